"""``biomtl build-structure-dataset``: DSSP 8-state and RSA labels from PDB / mmCIF files."""

from __future__ import annotations

import click


@click.command("build-structure-dataset")
@click.argument("structures", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output JSON lines (gzip-compressed if it ends in .gz).")
@click.option("--context", type=click.Choice(["isolated", "complex"]), default="isolated",
              show_default=True,
              help="Run DSSP on each chain alone, or on all protein chains of the entry.")
@click.option("--dssp", "dssp", default=None, metavar="PATH",
              help="The mkdssp executable (default: mkdssp or dssp on PATH).")
@click.option("--backend", type=click.Choice(["auto", "mkdssp", "pydssp"]), default="auto",
              show_default=True,
              help="auto: mkdssp if found, else pydssp (3-state SS, Shrake-Rupley RSA).")
@click.option("--chains", default=None, metavar="A,B",
              help="Only these chain ids (default: every protein chain).")
@click.pass_context
def build_structure_dataset(ctx: click.Context, structures: tuple[str, ...], output: str,
                            context: str, dssp: str | None, backend: str,
                            chains: str | None) -> None:
    """Build labelled records (SS8, RSA, mask) from PDB/mmCIF files.

    Each protein chain becomes one record {id, seq, ss8, rsa, mask} with id
    <file stem>_<chain>, sequence from SEQRES, DSSP 8-state labels and
    RSA = DSSP ACC / Tien et al. 2013 maximum ASA. Unobserved residues
    get mask 0. The output is read by train-structure and evaluate-structure.

    \b
    Example:
      biomtl build-structure-dataset 1abc.pdb 2xyz.cif.gz -o mine.jsonl.gz
      biomtl build-structure-dataset complex.cif --context complex --chains A,B -o c.jsonl
    """
    from ..structure.dataset_builder import build_records, write_records
    from .console import RichProgress
    from .outputs import check_outputs

    check_outputs({"'-o' / '--output'": output}, inputs=structures)
    quiet = bool(ctx.find_root().obj and ctx.find_root().obj.get("quiet"))
    chain_list = None if chains is None else [c for c in chains.split(",") if c.strip()]
    progress = RichProgress(enabled=not quiet and len(structures) > 5)
    records = build_records(structures, context=context, dssp=dssp, chains=chain_list,
                            backend=backend, progress=progress)
    write_records(records, output)
    if not quiet:
        n_res = sum(len(r["seq"]) for r in records)
        n_lab = sum(r["mask"].count("1") for r in records)
        click.echo(f"wrote {len(records)} chains ({n_res} residues, {n_lab} labelled) to "
                   f"{output}", err=True)
