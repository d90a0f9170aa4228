"""Fixtures of the structure tests: a tiny structure model trained through the CLI."""

import gzip
import json

import numpy as np
import pytest
from click.testing import CliRunner

from bio_mtl.cli.main import cli


def toy_records(n, seed, *, with_rsa, prefix):
    """Chains whose labels are a function of the residue (as in test_structure_train)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        seq = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), int(rng.integers(20, 60))))
        ss8 = "".join("H" if a in "AELMQKR" else "E" for a in seq)
        rsa = [0.8 if a in "KDE" else 0.1 for a in seq] if with_rsa else [None] * len(seq)
        out.append({"id": f"{prefix}_{i:03d}", "seq": seq, "ss8": ss8, "rsa": rsa,
                    "mask": "0" + "1" * (len(seq) - 1)})
    return out


def write_jsonl(path, records):
    with gzip.open(path, "wt") as handle:
        for r in records:
            handle.write(json.dumps(r) + "\n")
    return path


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    train = write_jsonl(tmp / "train.jsonl.gz", toy_records(60, 11, with_rsa=False, prefix="t"))
    rsa = write_jsonl(tmp / "rsa.jsonl.gz", toy_records(30, 12, with_rsa=True, prefix="r"))
    write_jsonl(tmp / "test.jsonl.gz", toy_records(10, 13, with_rsa=True, prefix="x"))
    cfg = tmp / "cfg.yaml"
    cfg.write_text("model:\n  embed_dim: 8\n  conv_channels: 8\n  conv_layers: 1\n"
                   "  kernel_size: 3\n  dilations: [1]\n  lstm_layers: 0\n  dropout: 0.0\n"
                   "training:\n  lr: 0.01\ndata:\n  batch_tokens: 800\n")
    result = CliRunner().invoke(cli, ["train-structure", "--train", str(train), "--rsa-train",
                                      str(rsa), "--out", str(tmp / "model"), "--config", str(cfg),
                                      "--epochs", "2", "--seed", "3", "--val-fraction", "0.2"])
    assert result.exit_code == 0, result.output
    assert "saved model to" in result.output
    return tmp


