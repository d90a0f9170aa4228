"""``biomtl dose``: predict a dose for one patient or a table of patients."""

from __future__ import annotations

import click


def _load_model(model_dir):
    from ..dosing.pretrained import load_pretrained

    return load_pretrained(model_dir or "warfarin_iwpc_v1")


def _single_frame(genotype, vcf, vcf_options, age, weight, height, drug, ancestry, amiodarone,
                  inducer):
    import pandas as pd

    from ..errors import InputError

    if (genotype is None) == (vcf is None):
        raise click.UsageError("give exactly one of --genotype or --vcf")
    if age is None:
        raise click.UsageError("--age is required for a single patient")
    if vcf is not None:
        from ..dosing.vcf import genotype_from_vcf

        geno = genotype_from_vcf(vcf, **vcf_options)
    else:
        from ..dosing.genotypes import parse_genotype_string

        geno = parse_genotype_string(genotype)
    for name, value, lo, hi in (("--age", age, 0, 120), ("--weight", weight, 1, 400),
                                ("--height", height, 30, 260)):
        if value is not None and not lo <= value <= hi:
            raise InputError(f"{name} {value} is not plausible (expected {lo}-{hi})")
    row = {"patient_id": "patient", "age": age, "weight_kg": weight, "height_cm": height,
           "ancestry": ancestry, "amiodarone": int(amiodarone), "inducer": int(inducer),
           "drug": drug, "genotype": "(given)"}
    from ..dosing.features import tidy_patients

    frame = tidy_patients(pd.DataFrame([row]))
    frame["genotype"] = pd.Series([geno], index=frame.index, dtype=object)
    return frame, geno


def _iwpc_beside(frame, geno):
    import numpy as np

    from ..dosing.iwpc import iwpc_pharmacogenetic_dose

    f = frame.copy()
    f["cyp2c9"] = [geno.diplotypes.get("CYP2C9")]
    count = geno.features().get("VKORC1_1639A_count", float("nan"))
    f["vkorc1"] = [{0: "G/G", 1: "A/G", 2: "A/A"}.get(int(count)) if count == count else None]
    dose = iwpc_pharmacogenetic_dose(f)[0]
    return None if not np.isfinite(dose) else float(dose)


def _print_single(model, frame, geno, drug):
    from .console import print_table

    pred, lo, hi = model.predict_interval(frame, drug=drug)
    act = model.pathway_activity(frame).iloc[0]
    warnings = model.range_warnings(frame)[0]
    level = f"{100 * (1 - model.alpha):.0f}%"
    rows = [("dose (mg/week)", f"{pred[0]:.1f}"), ("dose (mg/day)", f"{pred[0] / 7:.2f}"),
            (f"{level} interval (mg/week)", f"{lo[0]:.1f} - {hi[0]:.1f}")]
    if drug == "warfarin":
        iwpc = _iwpc_beside(frame, geno)
        rows.append(("IWPC pharmacogenetic algorithm (mg/week)",
                     "n/a (height/weight needed)" if iwpc is None else f"{iwpc:.1f}"))
    print_table(f"{drug} dose (research use only, not a clinical device)", ["", "value"], rows)
    print_table("CPIC phenotypes", ["gene", "diplotype", "activity score", "phenotype"],
                [(g, geno.diplotypes.get(g, "-"), geno.activity.get(g, "-"), p)
                 for g, p in sorted(geno.phenotypes.items())])
    if geno.variants:
        print_table("variant genotypes (plus strand)", ["rsID", "genotype"],
                    sorted(geno.variants.items()))
    print_table("pathway activity (1.0 = reference)", ["pathway", "activity"],
                [(k, "n/a (gene not in the training data)" if v != v else float(v))
                 for k, v in act.items()])
    for w in warnings:
        click.echo(f"warning: {w}", err=True)


def _batch(model, input_path, output):
    import numpy as np

    from .._io import atomic_write
    from ..dosing.features import read_dose_table

    raw, frame, _ = read_dose_table(input_path)
    pred, lo, hi = model.predict_interval(frame)
    act = model.pathway_activity(frame)
    warnings = model.range_warnings(frame)
    out = raw.copy().reset_index(drop=True)
    out["dose_mg_per_week"] = np.round(pred, 2)
    out["dose_lower"] = np.round(lo, 2)
    out["dose_upper"] = np.round(hi, 2)
    for col in act.columns:
        out["activity_" + col.split()[0].lower()] = np.round(act[col].to_numpy(), 4)
    out["warnings"] = ["; ".join(w) for w in warnings]
    with atomic_write(output, newline="") as handle:
        out.to_csv(handle, index=False)
    click.echo(f"wrote {len(out)} predictions to {output}", err=True)


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
              default="other", show_default=True)
@click.option("--amiodarone", is_flag=True, help="Takes amiodarone (CYP2C9 inhibitor).")
@click.option("--inducer", is_flag=True, help="Takes carbamazepine, phenytoin or rifampin.")
@click.option("--model", "model_dir", type=click.Path(file_okay=False),
              help="Model folder (default: the shipped warfarin_iwpc_v1).")
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False),
              help="Batch mode: IWPC-format or tidy CSV/TSV of patients.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Batch output CSV.")
def dose(genotype, vcf, sample, build, vcf_assume_ref, age, weight, height, drug, ancestry,
         amiodarone, inducer, model_dir, input_path, output):
    """Predict a stable drug dose from genotypes and clinical data (research use only).

    \b
    Example:
      biomtl dose --genotype "CYP2C9=*1/*3; VKORC1=rs9923231:A/G" \\
          --age 65 --weight 70 --height 175 --ancestry white
      biomtl dose --vcf sample.vcf.gz --sample NA12878 --age 65 --weight 70
      biomtl dose --input data/examples/patients.csv -o predictions.csv
    """
    if input_path is not None:
        if output is None:
            raise click.UsageError("batch mode (--input) needs -o/--output")
        _batch(_load_model(model_dir), input_path, output)
        return
    vcf_options = {"sample": sample, "build": build, "assume_reference": vcf_assume_ref}
    frame, geno = _single_frame(genotype, vcf, vcf_options, age, weight, height, drug.lower(),
                                ancestry, amiodarone, inducer)
    model = _load_model(model_dir)
    _print_single(model, frame, geno, drug.lower())
