"""Torch-free prediction on verified ONNX graphs (bio_mtl.structure.onnx_predictor, folders)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bio_mtl.errors import CheckpointError
from bio_mtl.structure import StructureModelConfig, build_structure_model, predict_structure
from bio_mtl.structure.backends import TOLERANCE, save_onnx_graphs
from bio_mtl.structure.estimator import StructureEnsembleModel, StructureModel
from bio_mtl.structure.folders import (
    GRAPH_FILE,
    RECORD_FILE,
    graph_is_verified,
    save_graph,
)
from bio_mtl.structure.onnx_predictor import OnnxGraph, load_onnx_predictor
from bio_mtl.structure.pretrained import ACCURATE_MODEL, DEFAULT_MODEL, FAST_MODEL, load_model

pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[2]

#: Real sequences: ubiquitin, a His-tag, a 1,150-residue chain (two overlapping windows).
SEQS = [("ubq", "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"),
        ("tag", "MGSSHHHHHHSSGLVPRGSH"), ("long", "ACDEFGHIKLMNPQRSTVWYX" * 50 + "MKV" * 33)]


def _network(seed, tasks=("ss8", "ss3", "rsa", "disorder"), **arch):
    torch.manual_seed(seed)
    cfg = StructureModelConfig(tasks=tasks, embed_dim=8, kernel_size=3, dropout=0.3, **arch)
    return StructureModel.from_network(build_structure_model(cfg).eval(), cfg)


def _close(a, b, tol):
    """Largest difference of two predictions' outputs is within ``tol``; same argmax."""
    for x, y in zip(a, b, strict=True):
        assert (x.id, x.seq) == (y.id, y.seq)
        for field in ("ss8_probs", "ss3_probs", "rsa", "disorder"):
            u, v = getattr(x, field), getattr(y, field)
            assert (u is None) == (v is None), field
            if u is not None:
                assert np.abs(u - v).max() <= tol, field
        assert x.ss8 == y.ss8
        assert x.ss3 == y.ss3


@pytest.mark.parametrize("name", [DEFAULT_MODEL, FAST_MODEL, ACCURATE_MODEL])
def test_shipped_graphs_are_verified_and_predict_like_torch(name):
    """The three shipped choices run on their recorded graphs and agree with the torch
    reference to float32 rounding on real sequences (one longer than a window)."""
    predictor = load_onnx_predictor(name, threads=1)
    assert predictor is not None, f"{name}: its graphs are not verified"
    reference = load_model(name)
    assert predictor.config_.tasks == reference.config_.tasks
    _close(predict_structure(SEQS, predictor), predict_structure(SEQS, reference), 1e-5)


def test_thread_count_does_not_change_the_result():
    """Pieces run single-threaded on a pool: 1 and 3 workers give the same bits."""
    one = predict_structure(SEQS, load_onnx_predictor(DEFAULT_MODEL, threads=1))
    three = predict_structure(SEQS, load_onnx_predictor(DEFAULT_MODEL, threads=3))
    for a, b in zip(one, three, strict=True):
        assert np.array_equal(a.ss8_probs, b.ss8_probs)
        assert np.array_equal(a.rsa, b.rsa)


def test_ensemble_of_mixed_members_matches_torch(tmp_path):
    """A CNN with disorder and SS3 from SS8 plus a CNN + BiLSTM without disorder: each task is
    the mean over the members that predict it, as in StructureEnsemble."""
    a = _network(1, conv_channels=12, conv_layers=2, lstm_layers=0)
    a.config_ = StructureModelConfig(**{**a.config_.to_dict(), "ss3_source": "ss8"})
    b = _network(2, tasks=("ss8", "ss3", "rsa"), conv_channels=8, conv_layers=1,
                 lstm_hidden=6, lstm_layers=2)
    folder = StructureEnsembleModel.from_members([a, b]).save(tmp_path / "ens")
    assert [p.parent.name for p in save_onnx_graphs(folder)] == ["member_0", "member_1"]
    predictor = load_onnx_predictor(folder, threads=2)
    assert predictor.config_.tasks == ("ss8", "ss3", "rsa", "disorder")
    _close(predict_structure(SEQS, predictor), predict_structure(SEQS, load_model(folder)), 1e-5)


def test_a_graph_without_a_valid_record_goes_to_the_torch_loader(tmp_path):
    model = _network(3, conv_channels=8, conv_layers=1, lstm_layers=0)
    folder = model.save(tmp_path / "m")
    assert load_onnx_predictor(folder) is None  # no graph at all
    save_onnx_graphs(folder)
    assert graph_is_verified(folder)
    assert load_onnx_predictor(folder) is not None
    record = json.loads((folder / RECORD_FILE).read_text())
    assert record["max_difference"] <= record["tolerance"] == TOLERANCE

    graph = (folder / GRAPH_FILE).read_bytes()
    (folder / GRAPH_FILE).write_bytes(graph + b"\0")  # the graph changed since its check
    assert not graph_is_verified(folder)
    assert load_onnx_predictor(folder) is None
    (folder / GRAPH_FILE).write_bytes(graph)
    assert graph_is_verified(folder)

    _network(4, conv_channels=8, conv_layers=1, lstm_layers=0).save(tmp_path / "other")
    weights = folder / "model.safetensors"  # retrained weights beside the old graph
    weights.write_bytes((tmp_path / "other" / "model.safetensors").read_bytes())
    assert not graph_is_verified(folder)
    assert load_onnx_predictor(folder) is None

    (folder / RECORD_FILE).write_text("{not json")
    assert not graph_is_verified(folder)


def test_a_record_is_refused_for_a_graph_that_disagrees(tmp_path):
    folder = _network(5, conv_channels=8, conv_layers=1, lstm_layers=0).save(tmp_path / "m")
    save_onnx_graphs(folder)
    kept = [(folder / name).read_bytes() for name in (GRAPH_FILE, RECORD_FILE)]
    with pytest.raises(CheckpointError, match=r"differs from the torch network by 0\.5"):
        save_graph(folder, b"another graph", max_difference=0.5, tolerance=TOLERANCE)
    with pytest.raises(CheckpointError):
        save_graph(folder, b"another graph", max_difference=float("nan"), tolerance=TOLERANCE)
    assert [(folder / name).read_bytes() for name in (GRAPH_FILE, RECORD_FILE)] == kept


def test_models_reading_esm_features_are_not_run_here(tmp_path):
    cfg = StructureModelConfig(input_dim=6, embed_dim=8, conv_channels=8, conv_layers=1,
                               lstm_layers=0, kernel_size=3)
    folder = StructureModel.from_network(build_structure_model(cfg).eval(), cfg).save(
        tmp_path / "esm")
    save_onnx_graphs(folder)
    assert graph_is_verified(folder)
    assert load_onnx_predictor(folder) is None


def test_a_missing_or_foreign_folder_is_reported():
    with pytest.raises(CheckpointError, match="no such model folder or shipped model"):
        load_onnx_predictor("no_such_model")
    with pytest.raises(CheckpointError, match="holds a 'dosing' model"):
        load_onnx_predictor("warfarin_iwpc_v1")


def test_row_groups_see_only_their_own_columns():
    """A batch split into calls, each trimmed to its longest row, gives each row what it
    gets alone (to float rounding)."""
    folder_graph = Path(ROOT, "bio_mtl/resources", FAST_MODEL, GRAPH_FILE).read_bytes()
    graph = OnnxGraph(folder_graph, ["ss8", "ss3", "rsa", "disorder"], max_tokens=300)
    lengths = [7, 40, 95, 150]
    rng = np.random.default_rng(0)
    tokens = np.full((4, 150), 21, dtype=np.int64)
    for i, n in enumerate(lengths):
        tokens[i, :n] = rng.integers(0, 20, n)
    assert [(g.start, g.stop) for g in graph.row_groups(4, 150)] == [(0, 2), (2, 4)]
    whole = graph.run(tokens, tokens != 21)
    assert whole["ss8"].shape == (4, 150, 8)
    assert whole["rsa"].shape == (4, 150)
    for i, n in enumerate(lengths):
        alone = graph.run(tokens[i:i + 1, :n], tokens[i:i + 1, :n] != 21)
        assert np.abs(alone["ss8"][0] - whole["ss8"][i, :n]).max() <= 1e-5
    # the first call ran 40 columns: the rest of its rows comes back as zeros
    assert not whole["ss8"][:2, 40:].any()
    assert whole["ss8"][:2, :40].all()


def test_default_cli_run_loads_no_torch_and_writes_what_torch_writes(tmp_path):
    """predict-structure with the default model never imports torch, and its rows equal the
    torch backend's up to the last printed digit."""
    fasta = ROOT / "data/examples/proteins.fasta"
    lean, ref = tmp_path / "lean.tsv", tmp_path / "torch.tsv"
    code = ("import sys\nfrom bio_mtl.cli.main import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    assert not e.code, e\n"
            "print('torch' in sys.modules)\n")
    run = subprocess.run([sys.executable, "-c", code, "predict-structure", str(fasta), "-o",
                          str(lean), "--quiet", "--threads", "2"],
                         capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"
    subprocess.run([sys.executable, "-m", "bio_mtl.cli", "predict-structure", str(fasta), "-o",
                    str(ref), "--quiet", "--backend", "torch"], check=True)
    a, b = (p.read_text().splitlines() for p in (lean, ref))
    assert len(a) == len(b) > 100
    assert a[0] == b[0]
    for x, y in zip(a[1:], b[1:], strict=True):
        u, v = x.split("\t"), y.split("\t")
        assert u[:5] == v[:5]  # id, position, residue, ss3, ss8
        assert max(abs(float(s) - float(t)) for s, t in zip(u[5:], v[5:], strict=True)) <= 1e-3


def test_an_ensemble_can_list_members_of_a_shipped_model(tmp_path):
    """The accurate ensemble reads the default's two members from the default's folder (no
    copies), and a user's ensemble may do the same; other entries are refused."""
    accurate, default = load_model(ACCURATE_MODEL), load_model(DEFAULT_MODEL)
    for k in (0, 1):
        a = accurate.members_[k].module_.state_dict()
        b = default.members_[k].module_.state_dict()
        assert a.keys() == b.keys()
        assert all(torch.equal(a[n], b[n]) for n in a)
    assert not Path(ROOT, "bio_mtl/resources", ACCURATE_MODEL, "member_0").exists()
    # the PyTorch loader's ONNX backend finds the referenced members' graphs too
    from bio_mtl.structure.backends import OnnxNetwork, to_backend

    onnx = to_backend(accurate, "auto", threads=1, source=ACCURATE_MODEL)
    assert [type(m) for m in onnx.members] == [OnnxNetwork] * 3

    mine = _network(6, conv_channels=8, conv_layers=1, lstm_layers=0).save(tmp_path / "m")
    folder = tmp_path / "ens"
    folder.mkdir()
    (folder / "mine").symlink_to(mine, target_is_directory=True)
    doc = {"format": "bio_mtl.checkpoint/1", "kind": "structure-ensemble",
           "members": [f"{DEFAULT_MODEL}:member_1", "mine"]}
    (folder / "config.json").write_text(json.dumps(doc))
    ens = load_model(folder)
    assert len(ens.members_) == 2
    assert ens.config_.tasks == ("ss8", "ss3", "rsa", "disorder")
    for bad in ["no_such_model:member_0", f"{DEFAULT_MODEL}:../member_0", f"{DEFAULT_MODEL}:",
                "../mine"]:
        (folder / "config.json").write_text(json.dumps({**doc, "members": [bad]}))
        with pytest.raises(CheckpointError, match="must list its member folders"):
            load_model(folder)


def test_a_recorded_graph_that_onnx_runtime_cannot_load_is_a_clear_error(tmp_path):
    """A graph whose record matches (forged, or a truncated copy recorded as it was) but that
    ONNX Runtime cannot read: exit 4 with one line naming the file, no output file."""
    import hashlib

    from click.testing import CliRunner

    from bio_mtl.cli.main import cli

    folder = _network(7, conv_channels=8, conv_layers=1, lstm_layers=0).save(tmp_path / "m")
    save_onnx_graphs(folder)
    (folder / GRAPH_FILE).write_bytes(b"not an onnx graph")
    record = json.loads((folder / RECORD_FILE).read_text())
    record["graph_sha256"] = hashlib.sha256(b"not an onnx graph").hexdigest()
    (folder / RECORD_FILE).write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match="ONNX Runtime cannot load it"):
        load_onnx_predictor(folder)
    out = tmp_path / "out.tsv"
    fasta = ROOT / "data/examples/proteins.fasta"
    result = CliRunner().invoke(cli, ["predict-structure", str(fasta), "--model", str(folder),
                                      "-o", str(out), "--quiet"])
    assert result.exit_code == 4
    message = result.output.strip().splitlines()
    assert len(message) == 1
    assert "model.onnx" in message[0]
    assert "cannot load it" in message[0]
    assert not out.exists()


def test_torch_free_shards_and_thread_counts_write_the_same_bytes(tmp_path):
    """On the default model's torch-free path, shards concatenate into the single run's file
    and --threads 1 / 2 write the same bytes."""
    from click.testing import CliRunner

    from bio_mtl.cli.main import cli

    rng = np.random.default_rng(3)
    fasta = tmp_path / "in.fa"
    fasta.write_text("".join(f">p{i}\n{''.join(rng.choice(list('ACDEFGHIKLMNPQRSTVWY'), n))}\n"
                             for i, n in enumerate(rng.integers(20, 300, 24))))

    def run(out, *extra):
        result = CliRunner().invoke(cli, ["predict-structure", str(fasta), "-o", str(out),
                                          "--batch-tokens", "256", "--quiet", *extra])
        assert result.exit_code == 0, result.output
        return out.read_bytes()

    whole = run(tmp_path / "whole.tsv", "--threads", "2")
    assert run(tmp_path / "one.tsv", "--threads", "1") == whole
    parts = [run(tmp_path / f"part{k}.tsv", "--shard", f"{k}/3", "--threads", "2")
             for k in (1, 2, 3)]
    assert all(parts)
    assert b"".join(parts) == whole


def test_without_onnxruntime_the_cli_falls_back_to_torch(tmp_path, monkeypatch):
    """No ONNX Runtime installed: load_onnx_predictor says so (None) and predict-structure
    runs the PyTorch reference instead, with the same labels."""
    import importlib.util

    from click.testing import CliRunner

    from bio_mtl.cli.main import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    assert load_onnx_predictor(DEFAULT_MODEL) is None
    fasta, out = ROOT / "data/examples/proteins.fasta", tmp_path / "torch.tsv"
    result = CliRunner().invoke(cli, ["predict-structure", str(fasta), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    monkeypatch.undo()
    lean = tmp_path / "lean.tsv"
    assert CliRunner().invoke(cli, ["predict-structure", str(fasta), "-o", str(lean),
                                    "--quiet"]).exit_code == 0
    labels = [[ln.split("\t")[3:5] for ln in p.read_text().splitlines()] for p in (out, lean)]
    assert labels[0] == labels[1]
    assert len(labels[0]) == 200
