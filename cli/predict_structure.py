"""``biomtl predict-structure``: SS3/SS8 and RSA for the sequences of a FASTA file."""

from __future__ import annotations

import click

#: Without -o, at most this many sequences / residues are shown as a per-residue table.
_TABLE_MAX_SEQS = 10
_TABLE_MAX_RESIDUES = 3000
_FORMATS = ("tsv", "csv", "json", "fasta")


def _guess_format(output: str | None, fmt: str | None) -> str:
    if fmt:
        return fmt
    if output:
        name = output.lower().removesuffix(".gz")
        for ext, f in ((".csv", "csv"), (".json", "json"), (".fasta", "fasta"), (".fa", "fasta"),
                       (".faa", "fasta")):
            if name.endswith(ext):
                return f
    return "tsv"


_CACHE_HELP = "Folder caching ESM-2 embeddings on disk (one file per sequence), reused later."


@click.command("predict-structure")
@click.argument("sequences", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Output file (format from --format or the extension; default TSV); - writes "
                   "the file format to stdout.")
@click.option("--format", "fmt", type=click.Choice(_FORMATS), default=None,
              help="Output format: per-residue TSV/CSV, JSON, or SS FASTA (without -o: on "
                   "stdout).")
@click.option("--summary", is_flag=True,
              help="One line per sequence (length, helix/strand/coil fractions, mean RSA).")
@click.option("--model", "model_name", default=None, metavar="DIR|NAME",
              help="Checkpoint or ensemble directory, or a shipped model: "
                   "ss_rsa_cnnbilstm_ens2_nsp2_v1 (default), ss_rsa_cnnbilstm_nsp2_v1 (2x "
                   "faster), ss_rsa_resdcnn_nsp2_v1.")
@click.option("--backbone", default=None, metavar="NAME|PATH",
              help="ESM-2 model (e.g. esm2_t6_8M_UR50D or a local .pt) for models trained on "
                   "ESM features.")
@click.option("--embedding-cache", type=click.Path(file_okay=False), default=None,
              metavar="DIR", help=_CACHE_HELP)
@click.option("--batch-tokens", type=click.IntRange(min=64), default=16384, show_default=True,
              help="Residues per forward pass (memory grows with it).")
@click.option("--unknown-residue", type=click.Choice(["x", "error"]), default="x",
              show_default=True, help="Non-standard letters: read as X, or stop with an error.")
@click.pass_context
def predict_structure(ctx: click.Context, sequences: str, output: str | None, fmt: str | None,
                      summary: bool, model_name: str | None, backbone: str | None,
                      embedding_cache: str | None, batch_tokens: int,
                      unknown_residue: str) -> None:
    """Predict secondary structure (SS3, SS8) and relative solvent accessibility.

    SEQUENCES is a FASTA file (plain or gzipped), or - for stdin.

    \b
    Example:
      biomtl predict-structure data/examples/proteins.fasta
      biomtl predict-structure proteome.fasta -o ss.tsv
      biomtl predict-structure seqs.fa -o ss.json --summary
      biomtl predict-structure seqs.fa -o ss.fasta --model runs/my_model
      zcat proteome.fa.gz | biomtl predict-structure - -o - --format csv > ss.csv
    """
    from ..structure.embeddings import embedder_for
    from ..structure.io import read_sequences
    from ..structure.pretrained import load_model
    from .console import RichProgress
    from .structure_common import check_output_file, stdout_closed_quietly

    if output is None and fmt is not None:
        output = "-"  # --format without -o: that format on stdout
    out_fmt = _guess_format(output, fmt)
    if summary and out_fmt == "fasta":
        raise click.UsageError("--summary cannot be written as FASTA; choose tsv, csv or json")
    check_output_file(output, "'-o' / '--output'")
    records = read_sequences(sequences, unknown=unknown_residue)
    n_res = sum(len(seq) for _, seq in records)
    model = load_model(model_name)
    embedder = embedder_for(model, backbone, cache_dir=embedding_cache)
    quiet = bool(ctx.find_root().obj and ctx.find_root().obj.get("quiet"))
    progress = RichProgress(enabled=not quiet and n_res > 50_000)
    predictions = model.predict(records, batch_tokens=batch_tokens, embedder=embedder,
                                progress=progress)
    if output is not None:
        with stdout_closed_quietly():
            _write(predictions, output, out_fmt, summary=summary)
        if not quiet and output != "-":
            click.echo(f"wrote {len(predictions)} predictions ({n_res} residues) to {output}",
                       err=True)
        return
    with stdout_closed_quietly():
        _show(predictions, summary=summary, quiet=quiet)


def _write(predictions, output: str, fmt: str, *, summary: bool) -> None:
    """Write to ``output`` atomically, or to stdout for ``-``."""
    import io

    from ..structure.io import FORMATS, write_predictions
    from .structure_common import output_errors

    if output == "-":
        buffer = io.StringIO()
        FORMATS[fmt](predictions, buffer, summary=summary)
        click.echo(buffer.getvalue(), nl=False)
        return
    with output_errors(output, "'-o' / '--output'"):
        write_predictions(predictions, output, fmt=fmt, summary=summary)


def _show(predictions, *, summary: bool, quiet: bool) -> None:
    """The readable stdout view: per-residue blocks for a few short sequences, else summaries."""
    from ..structure.io import format_table

    n_res = sum(len(p.seq) for p in predictions)
    if summary or len(predictions) > _TABLE_MAX_SEQS or n_res > _TABLE_MAX_RESIDUES:
        columns = ["id", "length", "helix", "strand", "coil", "mean_rsa"]
        click.echo("\t".join(columns))
        for row in (p.summary() for p in predictions):
            click.echo("\t".join(f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c])
                                 for c in columns))
        if not summary and not quiet:
            click.echo(f"{len(predictions)} sequences: showing one summary line each; use -o "
                       "FILE for per-residue predictions", err=True)
        return
    click.echo(format_table(predictions))
