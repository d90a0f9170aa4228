"""Streaming prediction (issue 13, items 3, 5, 6 and disorder): blocks, shards, lazy reading,
progress within one long sequence, streamed files identical to the in-memory writers."""

import gzip
import io
import json

import numpy as np
import pytest
import torch

from bio_mtl.errors import ConfigError, UnknownResidueError
from bio_mtl.structure.estimator import StructureModel
from bio_mtl.structure.io import FORMATS, PredictionWriter, parse_sequences, write_predictions
from bio_mtl.structure.model import StructureModelConfig, build_structure_model
from bio_mtl.structure.predict import (
    block_sizes,
    iter_predictions,
    predict_structure,
    prediction_blocks,
    shard_blocks,
)

TINY = StructureModelConfig(embed_dim=8, conv_channels=8, conv_layers=1, kernel_size=3,
                            dilations=(1,), lstm_layers=1, lstm_hidden=8, dropout=0.0)


def _model(tasks=("ss8", "ss3", "rsa"), seed=0):
    torch.manual_seed(seed)
    config = StructureModelConfig(**{**TINY.to_dict(), "tasks": tasks})
    return StructureModel.from_network(build_structure_model(config), config)


def _records(n, seed=0, low=5, high=120):
    rng = np.random.default_rng(seed)
    return [(f"s{i}", "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"),
                                         int(rng.integers(low, high))))) for i in range(n)]


class Recorder:
    """A ProgressCallback that remembers every call."""

    def __init__(self):
        self.calls = []

    def start(self, total, description):
        self.calls.append(("start", total))

    def advance(self, n=1):
        self.calls.append(("advance", n))

    def log(self, record):
        self.calls.append(("log", record))

    def finish(self):
        self.calls.append(("finish", None))


# ------------------------------------------------------------------ blocks and shards


def test_blocks_grow_from_batch_tokens_and_keep_the_order():
    records = [(f"r{i}", "A" * 40) for i in range(10)]
    blocks = list(prediction_blocks(records, batch_tokens=50, block_tokens=150))
    # targets 50, 100, 150, 150: a block closes once it holds at least its target
    assert [len(b) for b in blocks] == [2, 3, 4, 1]
    assert [rid for b in blocks for rid, _ in b] == [r for r, _ in records]
    assert block_sizes(records, batch_tokens=50, block_tokens=150) == \
        [(2, 80), (3, 120), (4, 160), (1, 40)]
    # one record longer than the largest block is a block of its own
    assert block_sizes([("t", "A" * 1000), ("u", "A")], batch_tokens=50, block_tokens=150) \
        == [(1, 1000), (1, 1)]


@pytest.mark.parametrize("n_blocks", [0, 1, 2, 7, 10, 33])
def test_shards_partition_the_blocks_in_order(n_blocks):
    for count in range(1, 12):
        shards = [shard_blocks(k, count, n_blocks) for k in range(1, count + 1)]
        assert [b for s in shards for b in s] == list(range(n_blocks))  # each once, in order
        sizes = [len(s) for s in shards]
        assert max(sizes) - min(sizes) <= 1  # as even as whole blocks allow
    for bad in ((0, 3), (4, 3)):
        with pytest.raises(ConfigError, match="between 1 and 3"):
            shard_blocks(*bad, 5)


def test_shard_predictions_concatenate_to_the_single_run_bit_for_bit():
    model, records = _model(), _records(60)
    kwargs = {"batch_tokens": 64, "block_tokens": 400}
    n_blocks = len(block_sizes(records, **kwargs))
    assert n_blocks >= 8
    whole = list(iter_predictions(records, model, **kwargs))
    for count in (1, 2, 3, 5, n_blocks + 2):
        parts = [p for k in range(1, count + 1) for p in iter_predictions(
            records, model, blocks=shard_blocks(k, count, n_blocks), **kwargs)]
        assert [p.id for p in parts] == [p.id for p in whole]
        for a, b in zip(parts, whole, strict=True):
            assert np.array_equal(a.ss8_probs, b.ss8_probs)
            assert np.array_equal(a.ss3_probs, b.ss3_probs)
            assert np.array_equal(a.rsa, b.rsa)


def test_block_size_changes_only_the_last_bits():
    model, records = _model(), _records(40)
    small = list(iter_predictions(records, model, batch_tokens=64, block_tokens=128))
    big = predict_structure(records, model)
    for a, b in zip(small, big, strict=True):
        np.testing.assert_allclose(a.ss8_probs, b.ss8_probs, atol=1e-5)
        np.testing.assert_allclose(a.rsa, b.rsa, atol=1e-5)


# ------------------------------------------------------------------ lazy reading


def test_records_are_read_lazily():
    pulled = []

    def source():
        for rec in _records(500):
            pulled.append(rec[0])
            yield rec

    stream = iter_predictions(source(), _model(), batch_tokens=256)
    first = next(stream)
    assert first.id == "s0"
    assert 1 <= len(pulled) <= 10  # the first block (>= 256 residues) and nothing more
    assert sum(1 for _ in stream) == 499
    assert len(pulled) == 500


def test_fasta_is_parsed_lazily_and_a_late_error_comes_late():
    text = ">a\nMKT\n>b\nMKV\n>c\nMK1\n"
    records = parse_sequences(io.StringIO(text))
    assert [next(records).id, next(records).id] == ["a", "b"]
    with pytest.raises(UnknownResidueError, match=r"record 'c': unknown residue '1' at position 3 "
                                               r"\(line 6\)"):
        next(records)


# ------------------------------------------------------------------ progress


def test_progress_advances_within_one_long_sequence():
    rec = Recorder()
    seq = _records(1, low=950, high=951)[0][1]
    # 100-residue windows overlapping by 10, one window per forward pass
    preds = list(iter_predictions([("long", seq)], _model(), chunk_size=100, overlap=10,
                                  batch_tokens=100, progress=rec, total=len(seq)))
    assert len(preds) == 1
    assert rec.calls[0] == ("start", 950)
    assert rec.calls[-1] == ("finish", None)
    steps = [n for kind, n in rec.calls if kind == "advance"]
    assert len(steps) == 11  # the windows of chunk_spans(950, 100, 10)
    assert sum(steps) == 950
    assert all(40 <= n <= 100 for n in steps)


def test_predict_structure_announces_the_total():
    rec = Recorder()
    predict_structure(_records(3), _model(), progress=rec)
    total = sum(len(s) for _, s in _records(3))
    assert rec.calls[0] == ("start", total)
    assert sum(n for kind, n in rec.calls if kind == "advance") == total


# ------------------------------------------------------------------ writers


def _stream(predictions, fmt, **kwargs):
    handle = io.StringIO()
    writer = PredictionWriter(handle, fmt, **kwargs)
    for p in predictions:
        writer.write(p)
    writer.close()
    return handle.getvalue()


@pytest.mark.parametrize(("fmt", "summary"), [("tsv", False), ("csv", False), ("json", False),
                                              ("fasta", False), ("tsv", True), ("json", True)])
def test_streamed_file_is_byte_identical_to_the_in_memory_one(tmp_path, fmt, summary):
    model, records = _model(), _records(30)
    blocks = {"batch_tokens": 64, "block_tokens": 400}  # several blocks
    preds = list(iter_predictions(records, model, **blocks))
    write_predictions(preds, tmp_path / "mem", fmt, summary=summary)
    write_predictions(iter_predictions(records, model, **blocks), tmp_path / "streamed", fmt,
                      summary=summary)
    assert (tmp_path / "streamed").read_bytes() == (tmp_path / "mem").read_bytes()
    text = _stream(iter_predictions(records, model, **blocks), fmt, summary=summary)
    assert text == (tmp_path / "mem").read_text()
    if fmt == "json":  # what json.dump of the whole list gives
        assert text == json.dumps(json.loads(text), indent=1) + "\n"
    write_predictions(iter(preds), tmp_path / "o.gz", fmt, summary=summary)
    assert gzip.decompress((tmp_path / "o.gz").read_bytes()).decode() == text


def test_empty_outputs_and_the_header_switch():
    assert _stream([], "tsv").splitlines() == ["\t".join(
        ["id", "position", "residue", "ss3", "ss8", "rsa", "asa", "p_H", "p_E", "p_C"])]
    assert _stream([], "tsv", header=False) == ""
    assert _stream([], "json") == "[]\n"
    assert json.loads(_stream([], "json", summary=True)) == []
    assert _stream([], "fasta") == ""
    preds = predict_structure(_records(2), _model())
    assert _stream(preds, "csv") == _stream(preds[:1], "csv") + \
        _stream(preds[1:], "csv", header=False)


# ------------------------------------------------------------------ disorder


def test_disorder_head_gives_p_disorder_columns():
    model = _model(tasks=("ss8", "ss3", "rsa", "disorder"), seed=1)
    records = _records(3, seed=2)
    preds = predict_structure(records, model)
    with torch.inference_mode():
        tokens = _encode(records[0][1])
        logits = model.module_(tokens, mask=torch.ones_like(tokens, dtype=torch.bool))
    want = logits["disorder"].float().softmax(-1)[0, :, 1].numpy()
    np.testing.assert_allclose(preds[0].disorder, want, atol=1e-6)
    assert preds[0].disorder.shape == (len(records[0][1]),)
    rows = [r.split("\t") for r in _stream(preds, "tsv").splitlines()]
    assert rows[0][-1] == "p_disorder"
    assert len(rows[0]) == 11
    assert float(rows[1][10]) == pytest.approx(float(want[0]), abs=5e-5)
    doc = json.loads(_stream(preds, "json"))
    assert doc[0]["p_disorder"] == [round(float(v), 4) for v in want]
    assert list(doc[0])[:10] == ["id", "seq", "ss3", "ss8", "rsa", "asa", "p_H", "p_E", "p_C",
                                 "p_disorder"]
    # a model without the head: no p_disorder anywhere, the columns stay as they were
    plain = predict_structure(records, _model())
    assert plain[0].disorder is None
    assert "p_disorder" not in _stream(plain, "tsv") + _stream(plain, "json")
    assert sorted(FORMATS) == ["csv", "fasta", "json", "tsv"]


def _encode(seq):
    from bio_mtl.structure.alphabet import encode_sequence

    return torch.from_numpy(encode_sequence(seq))[None]


# ------------------------------------------------------------------ the fast writers


def _reference_text(preds, fmt, disorder):
    """The writers' output as the straightforward cell-by-cell code gives it (csv.writer,
    json.dumps(indent=1) of values rounded with round())."""
    import csv
    import math

    def num(v, d):
        return "" if not math.isfinite(float(v)) else f"{float(v):.{d}f}"

    def jnum(v, d):
        return None if not math.isfinite(float(v)) else round(float(v), d)

    handle = io.StringIO()
    if fmt == "json":
        docs = []
        for p in preds:
            rec = {"id": p.id, "seq": p.seq, "ss3": p.ss3, "ss8": p.ss8,
                   "rsa": [jnum(v, 3) for v in p.rsa], "asa": [jnum(v, 3) for v in p.asa]}
            for j, c in enumerate("HEC"):
                rec[f"p_{c}"] = [jnum(v, 4) for v in p.ss3_probs[:, j]]
            if disorder:
                rec["p_disorder"] = [jnum(v, 4) for v in p.disorder]
            for j, c in enumerate("GHIBESTC"):
                rec[f"p8_{c}"] = [jnum(v, 4) for v in p.ss8_probs[:, j]]
            rec["summary"] = {k: jnum(v, 4) if isinstance(v, float) else v
                              for k, v in p.summary().items()}
            docs.append(rec)
        return json.dumps(docs, indent=1) + "\n"
    writer = csv.writer(handle, delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n")
    writer.writerow(["id", "position", "residue", "ss3", "ss8", "rsa", "asa", "p_H", "p_E",
                     "p_C"] + ["p_disorder"] * disorder)
    for p in preds:
        for i, aa in enumerate(p.seq):
            writer.writerow([p.id, i + 1, aa, p.ss3[i], p.ss8[i], num(p.rsa[i], 3),
                             num(p.asa[i], 3), *(num(v, 4) for v in p.ss3_probs[i])]
                            + ([num(p.disorder[i], 4)] if disorder else []))
    return handle.getvalue()


@pytest.mark.parametrize("fmt", ["tsv", "csv", "json"])
@pytest.mark.parametrize("disorder", [False, True])
def test_fast_writers_equal_the_cell_by_cell_reference(fmt, disorder):
    from bio_mtl.structure.results import StructurePrediction

    rng = np.random.default_rng(7)
    preds = []
    for i in range(25):
        n = int(rng.integers(1, 90))
        p8 = rng.dirichlet(np.ones(8), n).astype(np.float32)
        p3 = rng.dirichlet(np.ones(3), n).astype(np.float32)
        p3[0] = [0.99995, 0.00005, 0.0]  # rounding edges, 1.0 and 0.0
        rsa = np.full(n, np.nan, np.float32) if i % 4 == 0 else rng.random(n).astype(np.float32)
        seq = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWYX"), n))
        preds.append(StructurePrediction('a,"b"' if i == 3 else f"s{i}", seq, p8, p3, rsa,
                                         rng.random(n).astype(np.float32) if disorder else None))
    assert _stream(preds, fmt, disorder=disorder) == _reference_text(preds, fmt, disorder)
