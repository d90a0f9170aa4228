"""``biomtl dose``: predict a dose for one patient or a table of patients."""

from __future__ import annotations

import click

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


def _print_single(result, geno, extra_warnings):
    from .console import print_table

    level = f"{100 * result.coverage:.0f}%"
    rows = [("dose (mg/week)", f"{result.dose:.1f}"), ("dose (mg/day)", f"{result.dose / 7:.2f}"),
            (f"{level} interval (mg/week)", f"{result.lower:.1f} - {result.upper:.1f}"),
            (f"{level} interval (mg/day)", f"{result.lower / 7:.2f} - {result.upper / 7:.2f}")]
    if result.drug == "warfarin":
        iwpc = "n/a (height/weight needed)" if result.iwpc is None else f"{result.iwpc:.1f}"
        if result.iwpc_note:
            iwpc += f" (warning: {result.iwpc_note})"
        rows.append(("IWPC pharmacogenetic algorithm (mg/week)", iwpc))
    print_table(f"{result.drug} dose (research use only, not a clinical device)",
                ["", "value"], rows)
    print_table(f"genotypes and CPIC phenotypes ({geno.source})",
                ["gene", "genotype", "CPIC activity score", "phenotype"], result.genotypes)
    if geno.variants:
        print_table("variant genotypes (plus strand)", ["rsID", "genotype"],
                    sorted(geno.variants.items()))
    print_table("pathway activity (1.0 = reference)", ["pathway", "activity"],
                [(k, "n/a (gene not in the training data)" if v != v else v)
                 for k, v in result.activity.items()])
    for w in [*extra_warnings, *result.warnings]:
        click.echo(f"warning: {w}", err=True)


def _batch(model, input_path, output):
    from .._io import atomic_write
    from ..dosing.features import read_dose_table
    from ..dosing.predict import predict_table

    raw, frame, _ = read_dose_table(input_path)
    out, renamed = predict_table(model, raw, frame, path=input_path)
    if renamed:
        click.echo(f"note: input column(s) {', '.join(renamed)} kept as "
                   f"{', '.join(c + '_input' for c in renamed)}", err=True)
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
    from .outputs import check_outputs

    check_outputs({"-o/--output": output}, inputs=[input_path, vcf], model_dirs=[model_dir])
    if input_path is not None:
        _batch(_load_model(model_dir), input_path, output)
        return
    if age is None:
        raise click.UsageError("--age is required for a single patient")
    model = _load_model(model_dir)
    if drug.lower() not in model.drugs_:
        raise click.UsageError(f"--drug {drug}: this model has heads for "
                               f"{', '.join(model.drugs_)}")
    from ..dosing.predict import NO_ANCESTRY, predict_patient

    vcf_options = {"sample": sample, "build": build, "assume_reference": vcf_assume_ref}
    geno = _read_genotype(genotype, vcf, vcf_options)
    result = predict_patient(model, geno, age=age, weight=weight, height=height,
                             ancestry=ancestry, amiodarone=amiodarone, inducer=inducer,
                             drug=drug.lower())
    extra = [] if ancestry else [f"{NO_ANCESTRY} (pass --ancestry)"]
    _print_single(result, geno, extra)
