"""Inference backends agree with the PyTorch reference (bio_mtl.structure.backends)."""

import numpy as np
import pytest
import torch

from bio_mtl.errors import CheckpointError, ConfigError
from bio_mtl.structure import StructureModelConfig, build_structure_model
from bio_mtl.structure.alphabet import PAD_INDEX
from bio_mtl.structure.backends import (
    BACKENDS,
    ONNX_FILE,
    TOLERANCE,
    OnnxNetwork,
    export_onnx,
    max_difference,
    resolve_backend,
    to_backend,
)
from bio_mtl.structure.ensemble import StructureEnsemble
from bio_mtl.structure.estimator import StructureEnsembleModel, StructureModel

pytest.importorskip("onnxruntime")

ARCHITECTURES = {
    "cnn": {"conv_channels": 16, "conv_layers": 3, "dilations": (1, 2, 4), "lstm_layers": 0},
    "cnn_bilstm": {"conv_channels": 8, "conv_layers": 2, "lstm_hidden": 6, "lstm_layers": 2},
    "cnn_transformer": {"conv_channels": 8, "conv_layers": 1, "lstm_layers": 0,
                        "transformer_layers": 1, "attention_heads": 2},
}


def _network(seed, tasks=("ss8", "ss3", "rsa", "disorder"), **arch):
    torch.manual_seed(seed)
    cfg = StructureModelConfig(tasks=tasks, embed_dim=8, kernel_size=3, dropout=0.3, **arch)
    return build_structure_model(cfg).eval(), cfg


def _batch(lengths, seed=0):
    """Right-padded random tokens of the given lengths."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.full((len(lengths), max(lengths)), PAD_INDEX, dtype=torch.long)
    for i, n in enumerate(lengths):
        tokens[i, :n] = torch.randint(0, 21, (n,), generator=g)
    return tokens, tokens != PAD_INDEX


def _outputs(network, tokens, mask):
    with torch.inference_mode():
        return network(tokens, mask=mask)


@pytest.fixture(scope="module", params=sorted(ARCHITECTURES))
def pair(request):
    """A torch network and the same network on ONNX Runtime (one export per architecture)."""
    net, _ = _network(0, **ARCHITECTURES[request.param])
    return net, to_backend(net, "onnx", threads=1)


@pytest.mark.parametrize("lengths", [[5], [37, 12, 1], [130, 130, 64, 7]])
def test_onnx_agrees_with_torch_on_other_shapes_and_padding(pair, lengths):
    """The graph is traced on a 2 x 48 probe; other batch sizes, lengths and padding agree."""
    net, fast = pair
    tokens, mask = _batch(lengths)
    ref, out = _outputs(net, tokens, mask), _outputs(fast, tokens, mask)
    assert set(out) == set(ref) == {"ss8", "ss3", "rsa", "disorder"}
    for task in ref:
        assert out[task].shape == ref[task].shape
        assert out[task].dtype == torch.float32
        assert (out[task] - ref[task])[mask].abs().max() <= TOLERANCE


def test_padding_never_changes_real_residues_on_onnx(pair):
    _, fast = pair
    alone, amask = _batch([20], seed=3)
    padded = torch.cat([alone, torch.full((1, 30), PAD_INDEX)], dim=1)
    a = _outputs(fast, alone, amask)["ss8"][0]
    b = _outputs(fast, padded, padded != PAD_INDEX)["ss8"][0, :20]
    assert (a - b).abs().max() <= TOLERANCE


def test_default_mask_is_the_non_padding_tokens(pair):
    _, fast = pair
    tokens, mask = _batch([9, 4])
    with torch.inference_mode():
        implicit = fast(tokens)["rsa"]
    assert torch.equal(implicit, _outputs(fast, tokens, mask)["rsa"])


def test_export_leaves_the_network_in_eval_mode():
    """torch.onnx.export restores the wrapper's mode; a fresh wrapper would turn dropout on."""
    net, _ = _network(3, **ARCHITECTURES["cnn"])
    export_onnx(net)
    assert not net.training
    assert not any(m.training for m in net.modules())
    tokens, mask = _batch([25, 10])
    first, second = _outputs(net, tokens, mask), _outputs(net, tokens, mask)
    assert torch.equal(first["ss8"], second["ss8"])  # dropout (p=0.3) would differ


def test_ensemble_runs_one_graph_per_member_and_averages_like_torch():
    a, ca = _network(4, **ARCHITECTURES["cnn"])
    b, cb = _network(5, tasks=("ss8", "ss3", "rsa"), **ARCHITECTURES["cnn_bilstm"])
    ens = StructureEnsembleModel.from_members([StructureModel.from_network(a, ca),
                                               StructureModel.from_network(b, cb)])
    fast = to_backend(ens, "onnx", threads=1)
    assert isinstance(fast, StructureEnsemble)
    assert all(isinstance(m, OnnxNetwork) for m in fast.members)
    tokens, mask = _batch([40, 22, 3])
    ref, out = _outputs(ens.module_, tokens, mask), _outputs(fast, tokens, mask)
    assert set(out) == {"ss8", "ss3", "rsa", "disorder"}  # disorder from member a only
    for task in ref:
        assert (out[task] - ref[task])[mask].abs().max() <= TOLERANCE


def test_torch_backend_is_the_reference_network_itself():
    net, cfg = _network(6, **ARCHITECTURES["cnn"])
    assert to_backend(StructureModel.from_network(net, cfg), "torch") is net


def test_saved_graph_is_used_and_checked(tmp_path):
    net, cfg = _network(7, **ARCHITECTURES["cnn"])
    folder = StructureModel.from_network(net, cfg).save(tmp_path / "m")
    export_onnx(net, folder / ONNX_FILE)
    fast = to_backend(net, "onnx", threads=1, source=folder)
    assert max_difference(net, fast) <= TOLERANCE
    other, _ = _network(8, **ARCHITECTURES["cnn"])  # a stale graph: other weights
    export_onnx(other, folder / ONNX_FILE)
    with pytest.raises(CheckpointError, match="differ from the torch network"):
        to_backend(net, "onnx", threads=1, source=folder)
    (folder / ONNX_FILE).write_bytes(b"not a graph")
    with pytest.raises(CheckpointError, match="ONNX Runtime cannot load"):
        to_backend(net, "onnx", threads=1, source=folder)


def test_auto_picks_onnx_only_for_folders_with_graphs(tmp_path):
    net, cfg = _network(10, **ARCHITECTURES["cnn"])
    folder = StructureModel.from_network(net, cfg).save(tmp_path / "m")
    assert to_backend(net, "auto", source=folder) is net
    export_onnx(net, folder / ONNX_FILE)
    assert isinstance(to_backend(net, "auto", threads=1, source=folder), OnnxNetwork)


def test_backend_names_are_checked():
    assert set(BACKENDS) == {"torch", "onnx"}
    assert resolve_backend("auto", has_graphs=True) == "onnx"  # onnxruntime is installed
    assert resolve_backend("auto") == "torch"  # no exported graph: no export at start-up
    with pytest.raises(ConfigError, match="unknown backend 'tensorrt'; choose from auto, torch"):
        resolve_backend("tensorrt")
    with pytest.raises(ConfigError, match="fitted structure model"):
        to_backend(object(), "onnx")


def test_onnx_threads_are_the_requested_ones():
    net, _ = _network(9, **ARCHITECTURES["cnn"])
    fast = to_backend(net, "onnx", threads=2)
    options = fast.session.get_session_options()
    assert options.intra_op_num_threads == 2
    assert options.inter_op_num_threads == 1
    assert np.isfinite(_outputs(fast, *_batch([12]))["rsa"].numpy()).all()


def test_shipped_fast_model_graph_agrees_on_real_sequences():
    """The fast model's shipped model.onnx is used (no export) and matches its safetensors."""
    from bio_mtl.structure.alphabet import encode_sequence
    from bio_mtl.structure.pretrained import FAST_MODEL, load_model

    model = load_model(FAST_MODEL)
    fast = to_backend(model, "auto", threads=1, source=FAST_MODEL)
    assert isinstance(fast, OnnxNetwork)
    seqs = ["MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG",
            "MGSSHHHHHHSSGLVPRGSH", "ACDEFGHIKLMNPQRSTVWYX" * 30]
    tokens = torch.full((3, max(map(len, seqs))), PAD_INDEX, dtype=torch.long)
    for i, s in enumerate(seqs):
        tokens[i, :len(s)] = torch.from_numpy(encode_sequence(s))
    mask = tokens != PAD_INDEX
    ref, out = _outputs(model.module_, tokens, mask), _outputs(fast, tokens, mask)
    for task in ("ss8", "ss3", "rsa", "disorder"):
        assert (out[task] - ref[task])[mask].abs().max() <= TOLERANCE
    assert torch.equal(out["ss8"].argmax(-1)[mask], ref["ss8"].argmax(-1)[mask])


def test_large_batches_run_in_row_groups_with_the_same_result(pair):
    """OnnxNetwork splits a batch into calls of at most max_tokens padded residues."""
    net, fast = pair
    tokens, mask = _batch([60, 55, 41, 30, 12])
    whole = _outputs(fast, tokens, mask)
    fast.max_tokens = 130  # two rows of 60 per call: three calls
    try:
        split = _outputs(fast, tokens, mask)
    finally:
        fast.max_tokens = 4096
    for task in whole:
        assert split[task].shape == whole[task].shape
        assert (split[task] - whole[task])[mask].abs().max() <= 1e-6
    assert (split["ss8"] - _outputs(net, tokens, mask)["ss8"])[mask].abs().max() <= TOLERANCE


def test_cli_backends_write_the_same_predictions(tmp_path):
    """predict-structure --backend onnx / torch / auto on the shipped fast model: the same
    letters, and probabilities within the written precision."""
    import pandas as pd
    from click.testing import CliRunner

    from bio_mtl.cli.main import cli

    fasta = tmp_path / "s.fa"
    fasta.write_text(">ubq\nMQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG\n"
                     ">short\nMKTAYIAKQRQISFVKSHFSRQ\n")
    tables = {}
    for backend in ("torch", "onnx", "auto"):
        out = tmp_path / f"{backend}.tsv"
        result = CliRunner().invoke(cli, ["predict-structure", str(fasta), "-q", "--model",
                                          "ss_rsa_dis_dcnn96x10_kd_nsp2_v1", "--backend",
                                          backend, "-o", str(out)])
        assert result.exit_code == 0, result.output
        tables[backend] = pd.read_csv(out, sep="\t")
    ref = tables["torch"]
    assert len(ref) == 76 + 22 and "p_disorder" in ref
    for backend in ("onnx", "auto"):
        other = tables[backend]
        assert (other[["ss3", "ss8"]] == ref[["ss3", "ss8"]]).all().all()
        numbers = ref.select_dtypes("number").columns.drop("position")
        # 4 decimals written for probabilities, 3 for RSA: at most one unit of the last digit
        assert float((other[numbers] - ref[numbers]).abs().max().max()) <= 1.1e-3


def test_cli_unknown_backend_is_a_usage_error(tmp_path):
    from click.testing import CliRunner

    from bio_mtl.cli.main import cli

    fasta = tmp_path / "s.fa"
    fasta.write_text(">a\nMKTAYIAKQRQ\n")
    result = CliRunner().invoke(cli, ["predict-structure", str(fasta), "--backend", "tpu"])
    assert result.exit_code == 2 and "tpu" in result.output
