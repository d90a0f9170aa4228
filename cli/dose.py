"""``biomtl dose``: predict a dose for one patient or a table of patients."""

from __future__ import annotations

import click

#: Columns batch mode adds to the input table (plus one ``activity_<gene>`` per pathway).
ADDED_COLUMNS = ("dose_mg_per_week", "dose_lower", "dose_upper", "warnings")
_SINGLE_OPTIONS = ("--genotype", "--vcf", "--sample", "--build", "--vcf-assume-ref", "--age",
                   "--weight", "--height", "--ancestry", "--amiodarone", "--inducer")


def _load_model(model_dir):
    from ..dosing.pretrained import load_pretrained

    return load_pretrained(model_dir or "warfarin_iwpc_v1")


def _read_genotype(genotype, vcf, vcf_options):
    if (genotype is None) == (vcf is None):
        raise click.UsageError("give exactly one of --genotype or --vcf (or --input for a "
                               "table of patients)")
    if vcf is not None:
        from ..dosing.vcf import genotype_from_vcf

        return genotype_from_vcf(vcf, **vcf_options)
    from ..dosing.genotypes import parse_genotype_string

    return parse_genotype_string(genotype)


def _single_frame(geno, clinical: dict, drug):
    import pandas as pd

    from ..dosing.features import tidy_patients
    from ..errors import InputError

    for name, key, lo, hi in (("--age", "age", 0, 120), ("--weight", "weight", 1, 400),
                              ("--height", "height", 30, 260)):
        value = clinical[key]
        if value is not None and not lo <= value <= hi:
            raise InputError(f"{name} {value:g} is not plausible (expected {lo}-{hi})")
    row = {"patient_id": "patient", "age": clinical["age"], "weight_kg": clinical["weight"],
           "height_cm": clinical["height"], "ancestry": clinical["ancestry"],
           "amiodarone": int(clinical["amiodarone"]), "inducer": int(clinical["inducer"]),
           "drug": drug, "genotype": "(given)"}
    frame = tidy_patients(pd.DataFrame([row]))
    frame["genotype"] = pd.Series([geno], index=frame.index, dtype=object)
    return frame


def _iwpc_beside(frame, geno):
    import numpy as np

    from ..dosing.iwpc import iwpc_pharmacogenetic_dose

    f = frame.copy()
    f["cyp2c9"] = [geno.diplotypes.get("CYP2C9")]
    count = geno.features().get("VKORC1_1639A_count", float("nan"))
    f["vkorc1"] = [{0: "G/G", 1: "A/G", 2: "A/A"}.get(int(count)) if count == count else None]
    dose = iwpc_pharmacogenetic_dose(f)[0]
    return None if not np.isfinite(dose) else float(dose)


def _genotype_rows(geno):
    """(gene, genotype, activity score, CPIC phenotype) for every gene of the allele table."""
    from ..dosing.alleles import genes

    rows = []
    for gene in genes():
        if gene in geno.phenotypes:
            rows.append((gene, geno.diplotypes.get(gene, "-"), geno.activity.get(gene, "-"),
                         geno.phenotypes[gene]))
            continue
        typed = geno.diplotypes.get(gene)
        if gene == "VKORC1" and "rs9923231" in geno.variants:
            plus = geno.variants["rs9923231"].replace("C", "G").replace("T", "A")
            typed = f"-1639 {plus}"
        rows.append((gene, typed or "-", "-",
                     "no CPIC phenotype" if typed else "unknown (not genotyped)"))
    return rows


def _print_single(model, frame, geno, drug, extra_warnings):
    from .console import print_table

    pred, lo, hi = model.predict_interval(frame, drug=drug)
    act = model.pathway_activity(frame).iloc[0]
    warnings = [*extra_warnings, *model.range_warnings(frame)[0]]
    level = f"{100 * (1 - model.alpha):.0f}%"
    rows = [("dose (mg/week)", f"{pred[0]:.1f}"), ("dose (mg/day)", f"{pred[0] / 7:.2f}"),
            (f"{level} interval (mg/week)", f"{lo[0]:.1f} - {hi[0]:.1f}"),
            (f"{level} interval (mg/day)", f"{lo[0] / 7:.2f} - {hi[0] / 7:.2f}")]
    if drug == "warfarin":
        iwpc = _iwpc_beside(frame, geno)
        rows.append(("IWPC pharmacogenetic algorithm (mg/week)",
                     "n/a (height/weight needed)" if iwpc is None else f"{iwpc:.1f}"))
    print_table(f"{drug} dose (research use only, not a clinical device)", ["", "value"], rows)
    print_table(f"genotypes and CPIC phenotypes ({geno.source})",
                ["gene", "genotype", "activity score", "phenotype"], _genotype_rows(geno))
    if geno.variants:
        print_table("variant genotypes (plus strand)", ["rsID", "genotype"],
                    sorted(geno.variants.items()))
    print_table("pathway activity (1.0 = reference)", ["pathway", "activity"],
                [(k, "n/a (gene not in the training data)" if v != v else float(v))
                 for k, v in act.items()])
    for w in warnings:
        click.echo(f"warning: {w}", err=True)


def _check_drugs(model, frame, path):
    from ..errors import InputError

    for i, drug in enumerate(frame["drug"] if "drug" in frame else ()):
        if drug not in model.drugs_:
            raise InputError(f"no model head for drug {drug!r}; this model knows "
                             f"{', '.join(model.drugs_)}", path=path, record=f"row {i + 1}")


_NO_ANCESTRY = "ancestry not given: modelled as IWPC 'missing or mixed race'"


def _ancestry_not_given(raw):
    """Rows of the input table whose ancestry cell is blank (all rows if it has no column)."""
    import numpy as np

    cols = {str(c).strip().lower(): c for c in raw.columns}
    col = cols.get("ancestry", cols.get("race (omb)"))
    if col is None:
        return np.ones(len(raw), dtype=bool)
    cells = raw[col].reset_index(drop=True)
    return (cells.isna() | cells.astype(str).str.strip().eq("")).to_numpy()


def _batch(model, input_path, output):
    import numpy as np

    from .._io import atomic_write
    from ..dosing.features import read_dose_table

    raw, frame, _ = read_dose_table(input_path)
    _check_drugs(model, frame, input_path)
    pred, lo, hi = model.predict_interval(frame)
    act = model.pathway_activity(frame)
    warnings = model.range_warnings(frame)
    for i in np.flatnonzero(_ancestry_not_given(raw)):
        warnings[i].insert(0, _NO_ANCESTRY)
    out = raw.copy().reset_index(drop=True)
    added = {"dose_mg_per_week": np.round(pred, 2), "dose_lower": np.round(lo, 2),
             "dose_upper": np.round(hi, 2)}
    for col in act.columns:
        added["activity_" + col.split()[0].lower()] = np.round(act[col].to_numpy(), 4)
    added["warnings"] = ["; ".join(w) for w in warnings]
    clash = [c for c in added if c in out.columns]
    if clash:  # keep the input's values (e.g. an observed dose) under a new name
        out = out.rename(columns={c: f"{c}_input" for c in clash})
        click.echo(f"note: input column(s) {', '.join(clash)} kept as "
                   f"{', '.join(c + '_input' for c in clash)}", err=True)
    for col, values in added.items():
        out[col] = values
    with atomic_write(output, newline="") as handle:
        out.to_csv(handle, index=False)
    click.echo(f"wrote {len(out)} predictions to {output}", err=True)


def _check_mode(ctx, input_path, output):
    """Batch (--input, -o) and single-patient options do not mix."""
    from click.core import ParameterSource

    given = [f"--{p.name.replace('_', '-')}" for p in ctx.command.params
             if ctx.get_parameter_source(p.name) == ParameterSource.COMMANDLINE]
    given = [g for g in given if g in _SINGLE_OPTIONS]
    if input_path is not None:
        if output is None:
            raise click.UsageError("batch mode (--input) needs -o/--output")
        if given:
            raise click.UsageError(f"{', '.join(given)} cannot be combined with --input (batch "
                                   "mode reads every patient from the table)")
    elif output is not None:
        raise click.UsageError("-o/--output is for batch mode (--input); a single patient's "
                               "result is printed")


@click.command("dose")
@click.option("--genotype", help='Genotypes, e.g. "CYP2C9=*1/*3; VKORC1=rs9923231:A/G".')
@click.option("--vcf", type=click.Path(exists=True, dir_okay=False), help="VCF(.gz) file.")
@click.option("--sample", help="Sample name in a multi-sample VCF.")
@click.option("--build", type=click.Choice(["GRCh38", "GRCh37"]),
              help="Genome build of the VCF (default: from its header or positions).")
@click.option("--vcf-assume-ref", is_flag=True,
              help="Variant-only VCF: a gene with no record is homozygous reference.")
@click.option("--age", type=float, help="Age in years.")
@click.option("--weight", type=float, help="Weight in kg.")
@click.option("--height", type=float, help="Height in cm.")
@click.option("--drug", default="warfarin", show_default=True, help="Drug (model head).")
@click.option("--ancestry", type=click.Choice(["white", "asian", "black", "other"]),
              help="Default: not given, modelled as IWPC 'missing or mixed race' (warned).")
@click.option("--amiodarone", is_flag=True, help="Takes amiodarone (CYP2C9 inhibitor).")
@click.option("--inducer", is_flag=True, help="Takes carbamazepine, phenytoin or rifampin.")
@click.option("--model", "model_dir", type=click.Path(file_okay=False),
              help="Model folder (default: the shipped warfarin_iwpc_v1).")
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False),
              help="Batch mode: IWPC-format or tidy CSV/TSV/XLS(X) of patients.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Batch output CSV.")
@click.pass_context
def dose(ctx, genotype, vcf, sample, build, vcf_assume_ref, age, weight, height, drug,
         ancestry, amiodarone, inducer, model_dir, input_path, output):
    """Predict a stable drug dose from genotypes and clinical data (research use only).

    \b
    Example:
      biomtl dose --genotype "CYP2C9=*1/*3; VKORC1=rs9923231:A/G" \\
          --age 65 --weight 70 --height 175 --ancestry white
      biomtl dose --vcf sample.vcf.gz --sample NA12878 --age 65 --weight 70
      biomtl dose --input data/examples/patients.csv -o predictions.csv
    """
    _check_mode(ctx, input_path, output)
    if input_path is not None:
        _batch(_load_model(model_dir), input_path, output)
        return
    if age is None:
        raise click.UsageError("--age is required for a single patient")
    model = _load_model(model_dir)
    if drug.lower() not in model.drugs_:
        raise click.UsageError(f"--drug {drug}: this model has heads for "
                               f"{', '.join(model.drugs_)}")
    vcf_options = {"sample": sample, "build": build, "assume_reference": vcf_assume_ref}
    geno = _read_genotype(genotype, vcf, vcf_options)
    clinical = {"age": age, "weight": weight, "height": height, "ancestry": ancestry,
                "amiodarone": amiodarone, "inducer": inducer}
    frame = _single_frame(geno, clinical, drug.lower())
    extra = [] if ancestry else [f"{_NO_ANCESTRY} (pass --ancestry)"]
    _print_single(model, frame, geno, drug.lower(), extra)
