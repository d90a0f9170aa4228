"""``biomtl calibrate-dose``: adapt a dosing model to a new site from its first patients."""

from __future__ import annotations

import click


def _describe(report: dict, info: dict) -> list[str]:
    """The lines that tell the user what calibration did."""
    interval = report["interval"]
    coefs = ", ".join(f"{k} {v:+.3f}" for k, v in report["coefficients"].items()) or "none"
    scale = f"{report['target']}(mg/week)"
    lines = [f"calibrated {report['drug']} on {report['n_patients']} patients with a stable "
             f"dose ({info['skipped']} of {info['rows']} rows skipped: no stable dose)",
             f"site head: {report['level']}"
             + (f", shrinkage {report['penalty']:g} pseudo-patients, offset coefficients "
                f"({scale}, standardised columns): {coefs}" if report["level"] != "none"
                else " (leave-one-out validation kept the global head)")]
    if interval["recalibrated"]:
        lines.append(f"interval re-calibrated on {report['n_patients']} leave-one-out "
                     f"residuals: q = {interval['q']:.3f} {scale} (global "
                     f"{interval['q_global'] or float('inf'):.3f})")
    else:
        lines.append(f"interval kept from the global model (fewer than "
                     f"{interval['min_patients']} patients)")
    return lines


@click.command("calibrate-dose")
@click.option("--model", "model_dir", default="warfarin_iwpc_v1", show_default=True,
              help="Saved model folder or shipped model name to calibrate.")
@click.option("--data", "data", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The site's patients (IWPC or tidy CSV/TSV/XLS(X)) WITH the observed "
                   "stable dose, in enrolment order.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder: a calibrated model 'biomtl dose --model' reads.")
@click.option("--drug", help="Drug head to calibrate (default: the table's drug).")
@click.option("--levels", default="none,intercept,scale,head", show_default=True,
              help="Comma-separated site-head candidates, chosen by leave-one-out validation.")
@click.option("--min-interval-patients", type=int, default=20, show_default=True,
              help="Re-calibrate the 90% interval from this many patients on.")
def calibrate_dose(model_dir, data, out_dir, drug, levels, min_interval_patients):
    """Calibrate a dosing model to a new site from its first patients (frozen pathway layer).

    A small site head (an offset to the global head: intercept, scale, or the head's linear
    inputs) is fitted with shrinkage toward the global head and chosen by leave-one-out
    validation; the interval is re-calibrated when enough patients exist.

    \b
    Example:
      biomtl calibrate-dose --model warfarin_iwpc_v1 --data site_first25.csv --out runs/site
      biomtl dose --model runs/site --input site_new_patients.csv -o predictions.csv
    """
    from ..dosing.calibrate import calibrate_site, read_calibration_table, save_calibrated
    from ..dosing.pretrained import load_pretrained
    from .outputs import check_outputs

    check_outputs(folders={"--out": out_dir}, inputs=[data], model_dirs=[model_dir])
    if min_interval_patients < 1:
        raise click.BadParameter("must be >= 1", param_hint="--min-interval-patients")
    wanted = tuple(x.strip() for x in levels.split(",") if x.strip())
    rows, info = read_calibration_table(data)
    model = load_pretrained(model_dir)
    calibrated, report = calibrate_site(model, rows, drug=drug and drug.lower(), levels=wanted,
                                        min_interval_patients=min_interval_patients)
    save_calibrated(calibrated, report, out_dir, base=str(model_dir),
                    data={k: info[k] for k in ("source", "sha256", "rows", "used", "skipped")})
    for line in _describe(report, info):
        click.echo(line, err=True)
    click.echo(f"saved to {out_dir}", err=True)
