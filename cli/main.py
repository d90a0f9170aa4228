"""The ``biomtl`` group: lazy subcommands, global flags and error translation."""

from __future__ import annotations

import importlib
import logging
import sys

import click

from .._version import __version__
from ..errors import BioMTLError
from .errors import translate

# command name -> (module in this package, attribute, one-line help). Modules are imported only
# when their command runs (or for ``--help`` of that command), so ``biomtl --help`` stays fast.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "predict-structure": ("predict_structure", "predict_structure",
                          "Predict secondary structure (SS3/SS8) and solvent accessibility."),
    "train-structure": ("structure_train", "train_structure",
                        "Train a structure model on labelled chains."),
    "evaluate-structure": ("structure_train", "evaluate_structure",
                           "Score a structure model: Q3, Q8, per-class F1, SOV, RSA."),
    "build-structure-dataset": ("structure_dataset", "build_structure_dataset",
                                "Build labelled records from PDB/mmCIF files (DSSP + RSA)."),
    "dose": ("dose", "dose", "Predict a drug dose from genotypes and clinical data."),
    "train-dose": ("dose_train", "train_dose", "Train the multi-drug dosing model."),
    "evaluate-dose": ("dose_train", "evaluate_dose",
                      "Cross-validate dosing models against the IWPC algorithms."),
    "calibrate-dose": ("dose_calibrate", "calibrate_dose",
                       "Calibrate a dosing model to a new site from its first patients."),
    "train-expression": ("expression", "train_expression",
                         "Train a multi-task expression model on an AnnData file."),
    "dissect": ("dissect", "dissect", "Report what each latent dimension tracks."),
    "mtl": ("mtl", "mtl", "Train and evaluate a generic multi-task model from YAML."),
}


class BioMTLGroup(click.Group):
    """A click group that loads commands lazily and turns library errors into exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[cmd_name]
        mod = importlib.import_module(f".{module}", __package__)
        return getattr(mod, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BioMTLError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise translate(exc) from None
        except (KeyboardInterrupt, BrokenPipeError, click.ClickException,
                click.exceptions.Exit, click.exceptions.Abort):
            raise  # click's own handling (EPIPE: exit 1 quietly, as for ``... | head``)
        except Exception as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise click.ClickException(
                f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the "
                "traceback and please report it)"
            ) from None


@click.group(cls=BioMTLGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="biomtl")
@click.option("-v", "--verbose", is_flag=True, help="Log progress details to stderr.")
@click.option("-q", "--quiet", is_flag=True, help="Only print errors.")
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool, quiet: bool, debug: bool) -> None:
    """bio_mtl: multi-task learning for protein structure, dosing and latent dissection.

    \b
    Examples:
      biomtl predict-structure seqs.fasta -o ss.tsv
      biomtl dose --genotype "CYP2C9=*1/*3; VKORC1=rs9923231:A/G" --age 65 --weight 70 --height 175
      biomtl dissect --model runs/expr --data cells.h5ad --covariate age --out report/
    """
    ctx.ensure_object(dict)
    ctx.obj.update(verbose=verbose, quiet=quiet, debug=debug)
    level = logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``biomtl`` console script."""
    cli.main(args=argv, prog_name="biomtl")
