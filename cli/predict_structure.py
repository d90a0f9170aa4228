"""``biomtl predict-structure``: SS3/SS8 and RSA for the sequences of a FASTA file.

The FASTA file is read lazily and every prediction is written as soon as its block of
sequences is done (:func:`bio_mtl.structure.predict.iter_predictions`), so memory does not
grow with the input. A regular output file is filled under a temporary name in its folder and
renamed at the end (a failed run leaves nothing); stdout, devices and FIFOs are written
directly, and flushed after every sequence, so their first rows appear after the first block.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
from collections.abc import Iterator

import click

from .threads import threads_option

#: Without -o, at most this many sequences / residues are shown as a per-residue table.
_TABLE_MAX_SEQS = 10
_TABLE_MAX_RESIDUES = 3000
_FORMATS = ("tsv", "csv", "json", "fasta")
_OUTPUT = "'-o' / '--output'"


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


class ShardType(click.ParamType):
    """``K/N``: the K-th of N shards, ``1 <= K <= N``; converts to ``(K, N)``."""

    name = "K/N"

    def convert(self, value, param, ctx) -> tuple[int, int]:
        """Parse ``"K/N"`` or fail with a usage error (exit code 2)."""
        if isinstance(value, tuple):
            return value
        k, sep, n = str(value).partition("/")
        if not (sep and k.strip().isdigit() and n.strip().isdigit()):
            self.fail(f"{value!r} is not K/N with whole numbers (e.g. 3/10)", param, ctx)
        k, n = int(k), int(n)
        if not 1 <= k <= n:
            self.fail(f"{value!r}: K must be between 1 and N", param, ctx)
        return k, n


_CACHE_HELP = "Folder caching ESM-2 embeddings on disk (one file per sequence), reused later."
_SUMMARY_HELP = ("Write one line per sequence (length, helix/strand/coil fractions, mean RSA) "
                 "instead of the per-residue rows (to -o, or to stdout).")
_UNKNOWN_HELP = ("x: read U (selenocysteine) as C, O (pyrrolysine) as K and B/Z/J as X "
                 "(the output shows the letters read); error: stop at the first of them.")
_BACKEND_HELP = ("What runs the network: torch (the reference), onnx (ONNX Runtime; same "
                 "results to 1e-4, faster, and without loading torch when the graphs carry "
                 "their check record model.onnx.json, as the shipped ones do), or auto (onnx "
                 "when the model folder ships its model.onnx graphs and onnxruntime is "
                 "installed).")
_SHARD_HELP = ("Predict only shard K of N (1 <= K <= N): the K-th of N contiguous runs of the "
               "file's records, so the N outputs concatenate, in order, into the single run's "
               "file (only shard 1 writes the header). Needs a regular FASTA file.")


@click.command("predict-structure")
@click.argument("sequences", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Output file (format from --format or the extension; default TSV); - writes "
                   "the file format to stdout.")
@click.option("--format", "fmt", type=click.Choice(_FORMATS), default=None,
              help="Output format: per-residue TSV/CSV, JSON, or SS FASTA (without -o: on "
                   "stdout).")
@click.option("--summary", is_flag=True, help=_SUMMARY_HELP)
@click.option("--model", "model_name", default=None, metavar="DIR|NAME",
              help="Checkpoint or ensemble directory, or a shipped model: "
                   "ss_rsa_cnnbilstm_ens2_nsp2_v1 (default), ss_rsa_dis_dcnn96x10_kd_nsp2_v1 "
                   "(fastest, adds disorder), ss_rsa_dis_ens3_nsp2_v1 (most accurate, adds "
                   "disorder), ss_rsa_cnnbilstm_nsp2_v1, ss_rsa_resdcnn_nsp2_v1.")
@click.option("--backend", type=click.Choice(["auto", "torch", "onnx"]), default="auto",
              show_default=True, help=_BACKEND_HELP)
@click.option("--backbone", default=None, metavar="NAME|PATH",
              help="ESM-2 model (e.g. esm2_t6_8M_UR50D or a local .pt) for models trained on "
                   "ESM features.")
@click.option("--embedding-cache", type=click.Path(file_okay=False), default=None,
              metavar="DIR", help=_CACHE_HELP)
@click.option("--batch-tokens", type=click.IntRange(min=64), default=16384, show_default=True,
              help="Residues per forward pass (memory grows with it).")
@click.option("--unknown-residue", type=click.Choice(["x", "error"]), default="x",
              show_default=True, help=_UNKNOWN_HELP)
@click.option("--shard", type=ShardType(), default=None, help=_SHARD_HELP)
@threads_option
@click.option("-q", "--quiet", "quiet_flag", is_flag=True,
              help="No progress bar and no notes on stderr (as biomtl --quiet).")
@click.pass_context
def predict_structure(ctx: click.Context, sequences: str, output: str | None, fmt: str | None,
                      summary: bool, model_name: str | None, backbone: str | None,
                      embedding_cache: str | None, batch_tokens: int, unknown_residue: str,
                      backend: str, shard: tuple[int, int] | None, threads: int | None,
                      quiet_flag: bool) -> None:
    """Predict secondary structure (SS3, SS8) and relative solvent accessibility.

    SEQUENCES is a FASTA file (plain or gzipped), or - for stdin. A regular file is checked
    whole before any prediction; results are written as they are ready, in constant memory.
    Models with a disorder head add a p_disorder column.

    \b
    Example:
      biomtl predict-structure data/examples/proteins.fasta
      biomtl predict-structure proteome.fasta -o ss.tsv --threads 4
      biomtl predict-structure proteome.fasta -o ss.tsv --model ss_rsa_dis_dcnn96x10_kd_nsp2_v1
      biomtl predict-structure seqs.fa -o ss.json --summary
      biomtl predict-structure seqs.fa -o ss.fasta --model runs/my_model
      zcat proteome.fa.gz | biomtl predict-structure - -o - --format csv > ss.csv
      biomtl predict-structure proteome.fa --shard 3/10 -o part_03.tsv   # then: cat part_*.tsv
    """
    from ..structure.io import parse_sequences
    from ..structure.predict import iter_predictions
    from .console import RichProgress
    from .outputs import check_outputs, stdout_closed_quietly

    if output is None and fmt is not None:
        output = "-"  # --format without -o: that format on stdout
    out_fmt = _guess_format(output, fmt)
    if summary and out_fmt == "fasta":
        raise click.UsageError("--summary cannot be written as FASTA; choose tsv, csv or json")
    check_outputs({_OUTPUT: output}, {"'--embedding-cache'": embedding_cache},
                  inputs=[sequences], model_dirs=[model_name])
    blocks, total = _plan(sequences, unknown_residue, batch_tokens, shard)
    model, embedder = _load(model_name, backend, backbone, embedding_cache, threads)
    quiet = quiet_flag or bool(ctx.find_root().obj and ctx.find_root().obj.get("quiet"))
    progress = RichProgress(enabled=not quiet)
    predictions = iter_predictions(parse_sequences(sequences, unknown=unknown_residue), model,
                                   batch_tokens=batch_tokens, blocks=blocks, embedder=embedder,
                                   progress=progress, total=total)
    options = {"header": shard is None or shard[0] == 1,
               "disorder": "disorder" in model.config_.tasks}
    try:
        with stdout_closed_quietly():
            if output is None:
                _show(predictions, summary=summary, quiet=quiet, **options)
                return
            count, residues = _write(predictions, output, out_fmt, summary=summary, **options)
    finally:
        progress.finish()
    if not quiet and output != "-":
        click.echo(f"wrote {count} predictions ({residues} residues) to {output}", err=True)


def _load(model_name: str | None, backend: str, backbone: str | None,
          embedding_cache: str | None, threads: int | None):
    """``(model, embedder)``: the model on ONNX Runtime without torch where its folder carries
    verified graphs (:mod:`bio_mtl.structure.onnx_predictor`; ``--backend auto`` or ``onnx``),
    else the torch estimator on ``backend``."""
    from ..structure.embeddings import embedder_for
    from ..structure.onnx_predictor import load_onnx_predictor
    from ..structure.pretrained import DEFAULT_MODEL
    from .threads import thread_count, use_threads

    source = model_name or DEFAULT_MODEL
    if backend != "torch" and backbone is None:
        predictor = load_onnx_predictor(source, threads=thread_count(threads))
        if predictor is not None:
            return predictor, embedder_for(predictor, None, cache_dir=embedding_cache)
    from ..structure.backends import to_backend
    from ..structure.pretrained import load_model

    model = load_model(model_name)
    embedder = embedder_for(model, backbone, cache_dir=embedding_cache)
    model.module_ = to_backend(model, backend, threads=use_threads(threads), source=source)
    return model, embedder


def _plan(sequences: str, unknown: str, batch_tokens: int,
          shard: tuple[int, int] | None) -> tuple[range | None, int | None]:
    """The blocks to predict (``None``: all) and their residues (``None``: not known).

    A regular file is read a first time here, which checks every record before any work and
    counts the blocks a shard needs; stdin and pipes can only be read once.
    """
    from ..structure.io import parse_sequences
    from ..structure.predict import block_sizes, shard_blocks

    if sequences == "-" or not os.path.isfile(sequences):
        if shard is not None:
            raise click.BadParameter("a shard reads SEQUENCES twice (to cut it the same way in "
                                     "every shard); give a regular FASTA file, not stdin or a "
                                     "pipe", param_hint="'--shard'")
        return None, None
    sizes = block_sizes(parse_sequences(sequences, unknown=unknown), batch_tokens=batch_tokens)
    blocks = range(len(sizes)) if shard is None else shard_blocks(*shard, len(sizes))
    return (None if shard is None else blocks), sum(sizes[k][1] for k in blocks)


@contextlib.contextmanager
def _sink(output: str) -> Iterator[tuple[object, bool]]:
    """``(text handle, is a stream)``: stdout for ``-``, else the atomic or direct output."""
    from .._io import is_regular_target
    from ..structure.io import open_output

    if output == "-":
        yield sys.stdout, True
        return
    with open_output(output) as handle:
        yield handle, not is_regular_target(output)


def _write(predictions, output: str, fmt: str, *, summary: bool, header: bool,
           disorder: bool) -> tuple[int, int]:
    """Write the predictions as they come; return the numbers of sequences and residues."""
    from ..structure.io import PredictionWriter

    with _sink(output) as (handle, stream):
        writer = PredictionWriter(handle, fmt, summary=summary, header=header,
                                  disorder=disorder)
        for p in predictions:
            writer.write(p)
            if stream:  # a reader (a pipe, a terminal) sees each sequence at once
                handle.flush()
        writer.close()
    return writer.count, writer.residues


def _show(predictions, *, summary: bool, quiet: bool, header: bool, disorder: bool) -> None:
    """The readable stdout view: per-residue blocks for a few short sequences, else summaries."""
    from ..structure.io import format_table

    shown, residues = [], 0
    if not summary:
        for p in predictions:
            shown.append(p)
            residues += len(p.seq)
            if len(shown) > _TABLE_MAX_SEQS or residues > _TABLE_MAX_RESIDUES:
                break
        else:
            click.echo(format_table(shown))
            return
    count, _ = _write(itertools.chain(shown, predictions), "-", "tsv", summary=True,
                      header=header, disorder=disorder)
    if not summary and not quiet:
        click.echo(f"{count} sequences: showing one summary line each; use -o FILE for "
                   "per-residue predictions", err=True)
