"""Speed levers of structure inference, measured: backends, precision, compilation, batch shape.

Usage::

    nice -n 10 python benchmarks/structure_backends.py [--models NAME_OR_DIR,...]
        [--levers torch,onnx,torch-bf16,onnx-int8,onnx-int8-rnn,torch-compile] [--threads 1,2]
        [--batch-tokens 4096,16384] [--n 150] [--repeats 3] [-o levers.md]
        [--accuracy DATA_DIR]

Model-only throughput (no FASTA reading or writing): ``--n`` random sequences with UniProtKB /
Swiss-Prot composition and lengths uniform in 50-500 (as ``structure_speed.py``), sorted by
length and packed into batches of at most ``--batch-tokens`` padded residues (the prediction
path's scheme). Every configuration runs ``--repeats`` times, interleaved round-robin so that
the shared machine's load hits all of them alike; the table gives the median residues/s of the
wall clock and, for one thread, per CPU second of the process.

Levers (the first two ship, through :func:`bio_mtl.structure.backends.to_backend`):

* ``torch``: PyTorch eager float32, the reference;
* ``onnx``: ONNX Runtime CPU, float32 (the ``onnx`` backend);
* ``torch-bf16``: PyTorch under ``torch.autocast("cpu", torch.bfloat16)``;
* ``onnx-int8``: ONNX Runtime after ``onnxruntime.quantization.quantize_dynamic`` (int8
  weights, per-batch activation scales; convolutions become ``ConvInteger``);
* ``onnx-int8-rnn``: the same, but only the recurrent and linear layers (``LSTM``, ``MatMul``)
  get int8 weights; the convolutions stay float32 (``ConvInteger`` was slower than MLAS's float
  convolutions here);
* ``torch-compile``: ``torch.compile`` (inductor); its compile time is reported apart.

``--accuracy DATA_DIR`` also scores every lever end to end on the test sets
(``DATA_DIR/cb513.jsonl.gz``, ``DATA_DIR/casp_fm_rsa.jsonl.gz``: Q3, Q8, RSA r) through
:func:`bio_mtl.structure.predict_structure`, the prediction path of ``predict-structure``.

Agreement with the reference on the same batches: the largest absolute difference of the SS8
probabilities and RSA, and the share of residues whose SS3 and SS8 argmax are unchanged.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bio_mtl.structure.alphabet import PAD_INDEX, SS8_TO_SS3_INDEX, encode_sequence
from bio_mtl.structure.backends import export_onnx, to_backend
from bio_mtl.structure.ensemble import StructureEnsemble
from bio_mtl.structure.pretrained import load_model

_spec = importlib.util.spec_from_file_location(
    "structure_speed", Path(__file__).with_name("structure_speed.py"))
speed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(speed)


def batches(seqs: list[str], batch_tokens: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Token and mask tensors of ``seqs`` sorted by length, ``batch_tokens`` padded residues
    at most per batch."""
    out, current = [], []
    for seq in sorted(seqs, key=len):
        if current and len(seq) * (len(current) + 1) > batch_tokens:
            out.append(current)
            current = []
        current.append(seq)
    out.append(current)
    result = []
    for group in out:
        width = max(map(len, group))
        tokens = torch.full((len(group), width), PAD_INDEX, dtype=torch.long)
        for i, s in enumerate(group):
            tokens[i, :len(s)] = torch.from_numpy(encode_sequence(s))
        result.append((tokens, tokens != PAD_INDEX))
    return result


def _int8(network, threads: int, ops: list[str] | None = None):
    """The network's ONNX graph after dynamic int8 quantization (of the ``ops`` node types;
    ``None``: every supported one), in an ONNX Runtime session."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from bio_mtl.structure.backends import OnnxNetwork

    def one(member):
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
            export_onnx(member, src)
            quantize_dynamic(src, dst, weight_type=QuantType.QInt8, op_types_to_quantize=ops)
            return OnnxNetwork(dst.read_bytes(), member.task_names, threads=threads)

    if isinstance(network, StructureEnsemble):
        return StructureEnsemble([one(m) for m in network.members], network.ss3_sources)
    return one(network)


def build(lever: str, model, threads: int, source=None):
    """A callable ``(tokens, mask) -> outputs`` for ``lever``, and its set-up seconds
    (``source``: the model's folder or shipped name, whose ``model.onnx`` the onnx lever reads)."""
    start = time.perf_counter()
    net = model.module_.eval()
    if lever in ("torch", "torch-bf16"):
        fn = net
    elif lever == "onnx":
        fn = to_backend(model, "onnx", threads=threads, source=source)
    elif lever == "onnx-int8":
        fn = _int8(net, threads)
    elif lever == "onnx-int8-rnn":
        fn = _int8(net, threads, ["LSTM", "MatMul"])
    elif lever == "torch-compile":
        fn = torch.compile(net, dynamic=True)
    else:
        raise SystemExit(f"unknown lever {lever}")

    def run(tokens, mask):
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16,
                                                     enabled=lever == "torch-bf16"):
            out = fn(tokens, mask=mask)
        return {k: v.float() for k, v in out.items()}

    if lever == "torch-compile":  # compile for the shapes of the first batches now
        run(*batches(["A" * 60, "A" * 400], 1024)[0])
    run.network = fn
    return run, time.perf_counter() - start


def test_set_accuracy(model, network, data_dir: Path) -> dict:
    """Q3 / Q8 (CB513, CASP) and RSA r (CASP) of ``model`` with its network replaced by
    ``network``, through the prediction path of ``predict-structure``."""
    import copy

    from bio_mtl.structure import predict_structure
    from bio_mtl.structure.data import read_chains
    from bio_mtl.structure.metrics import score_predictions

    variant = copy.copy(model)
    variant.module_ = network
    out = {}
    for name in ("cb513", "casp_fm_rsa"):
        chains = read_chains(data_dir / f"{name}.jsonl.gz")
        scores = score_predictions(predict_structure([(c.id, c.seq) for c in chains], variant),
                                   chains)
        out[name] = {k: scores.get(k) for k in ("q3", "q8", "rsa_pearson")}
    return out


def probabilities(out: dict, mask: torch.Tensor) -> dict:
    """SS8 and SS3 probabilities and RSA of one batch, real residues only."""
    p8 = out["ss8"].softmax(-1)
    p3 = out["ss3"].softmax(-1) if "ss3" in out else torch.zeros(
        *p8.shape[:-1], 3).index_add_(-1, torch.from_numpy(SS8_TO_SS3_INDEX), p8)
    return {"ss8": p8[mask], "ss3": p3[mask], "rsa": out["rsa"][mask]}


def agreement(ref: list[dict], other: list[dict]) -> dict:
    """Max |Δ| of SS8 probabilities and RSA; SS3 / SS8 argmax agreement (%)."""
    cat = lambda xs, k: torch.cat([x[k] for x in xs])  # noqa: E731
    return {"max_dp8": float((cat(ref, "ss8") - cat(other, "ss8")).abs().max()),
            "max_drsa": float((cat(ref, "rsa") - cat(other, "rsa")).abs().max()),
            "ss3_same": 100 * float((cat(ref, "ss3").argmax(-1)
                                     == cat(other, "ss3").argmax(-1)).float().mean()),
            "ss8_same": 100 * float((cat(ref, "ss8").argmax(-1)
                                     == cat(other, "ss8").argmax(-1)).float().mean())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="ss_rsa_cnnbilstm_ens2_nsp2_v1")
    ap.add_argument("--levers", default="torch,onnx,torch-bf16,onnx-int8")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batch-tokens", default="16384")
    ap.add_argument("--n", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", default=None)
    ap.add_argument("--accuracy", default=None, metavar="DATA_DIR",
                    help="also score each lever on DATA_DIR's CB513 and CASP-FM files")
    args = ap.parse_args(argv)
    seqs = [s for _, s in speed.random_sequences(args.n, args.seed)]
    n_res = sum(map(len, seqs))
    levers = args.levers.split(",")
    rows, accuracy = [], {}
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        for name in args.models.split(","):
            model = load_model(name)
            for bt in (int(b) for b in args.batch_tokens.split(",")):
                data = batches(seqs, bt)
                runs = {lever: build(lever, model, threads, name) for lever in levers}
                outs = {lever: [probabilities(run(t, m), m) for t, m in data]
                        for lever, (run, _) in runs.items()}  # also the warm-up
                times = {lever: [] for lever in levers}
                for _ in range(args.repeats):
                    for lever, (run, _) in runs.items():
                        wall, cpu = time.perf_counter(), time.process_time()
                        for t, m in data:
                            run(t, m)
                        times[lever].append((time.perf_counter() - wall,
                                             time.process_time() - cpu))
                for lever in levers:
                    wall = statistics.median(w for w, _ in times[lever])
                    cpu = statistics.median(c for _, c in times[lever])
                    agree = agreement(outs[levers[0]], outs[lever])
                    path = Path(name)
                    label = path.parent.name if path.name == "model" else path.name
                    rows.append((label, lever, threads, bt, n_res / wall, n_res / cpu,
                                 runs[lever][1], agree))
                    print(rows[-1], flush=True)
                if args.accuracy:
                    for lever, (run, _) in runs.items():
                        if (label, lever) in accuracy:
                            continue
                        accuracy[(label, lever)] = test_set_accuracy(
                            model, run.network, Path(args.accuracy))
                        print(lever, accuracy[(label, lever)], flush=True)
    lines = [f"{args.n} random Swiss-Prot-composition sequences, {n_res:,} residues; median of "
             f"{args.repeats} interleaved repeats; agreement against `{levers[0]}`.", "",
             "| model | lever | threads | batch tokens | residues/s | residues per CPU s | "
             "set-up s | max abs Δ p(SS8) | max abs Δ RSA | SS3 argmax same % | "
             "SS8 argmax same % |", "|" + " --- |" * 11]
    for model, lever, threads, bt, rs, rc, setup, a in rows:
        lines.append(f"| {model} | {lever} | {threads} | {bt} | {rs:,.0f} | {rc:,.0f} | "
                     f"{setup:.1f} | {a['max_dp8']:.1e} | {a['max_drsa']:.1e} | "
                     f"{a['ss3_same']:.2f} | {a['ss8_same']:.2f} |")
    if accuracy:
        lines += ["", "Test sets (the first thread count and batch size; `predict_structure`):",
                  "", "| model | lever | CB513 Q3 % | CB513 Q8 % | CASP-FM Q3 % | CASP-FM Q8 % | "
                  "CASP-FM RSA r |", "|" + " --- |" * 7]
        for (model, lever), a in accuracy.items():
            cb, casp = a["cb513"], a["casp_fm_rsa"]
            lines.append(f"| {model} | {lever} | {100 * cb['q3']:.2f} | {100 * cb['q8']:.2f} | "
                         f"{100 * casp['q3']:.2f} | {100 * casp['q8']:.2f} | "
                         f"{casp['rsa_pearson']:.4f} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.output:
        Path(args.output).write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
