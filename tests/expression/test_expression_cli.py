"""``biomtl train-expression``: usage and input errors, and training under torchrun (DDP)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _run(runner, args):
    from bio_mtl.cli.main import cli

    res = runner.invoke(cli, args)
    return res, res.output + (getattr(res, "stderr", "") or "")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from bio_mtl.dissect import simulate_expression

    path = tmp_path_factory.mktemp("expr") / "s.h5ad"
    simulate_expression(40, seed=2).write_h5ad(path)
    return path


def test_train_expression_bad_task_column(runner, small, tmp_path):
    res, text = _run(runner, ["train-expression", str(small), "--task",
                              "severity:classification", "--out", str(tmp_path / "m")])
    assert res.exit_code == 3
    assert "'severity'" in text
    assert "disease" in text
    res, text = _run(runner, ["train-expression", str(small), "--task",
                              "disease:ordinal", "--out", str(tmp_path / "m")])
    assert res.exit_code == 2  # a bad option value: a usage error (docs/cli.md)
    assert "NAME:classification" in text
    assert "--task" in text
    res, text = _run(runner, ["train-expression", str(small), "--task",
                              "disease:classification", "--adversarial-batch",
                              "--out", str(tmp_path / "m")])
    assert res.exit_code == 2
    assert "--adversarial-batch needs --batch-key" in text
    assert "Traceback" not in text
    assert not (tmp_path / "m").exists()


def test_same_column_twice_is_a_usage_error(runner, small, tmp_path):
    res, text = _run(runner, ["train-expression", str(small), "--task", "age:regression",
                              "--task", "age:classification", "--out", str(tmp_path / "m")])
    assert res.exit_code == 2, text
    assert "'age:classification'" in text
    assert "already a task (age:regression)" in text
    assert not (tmp_path / "m").exists()


WORKER = textwrap.dedent('''
    import sys
    import torch
    from safetensors.torch import save_file
    from bio_mtl.cli.main import cli
    from bio_mtl.expression import ExpressionModel, read_h5ad
    from bio_mtl.mtl.distributed import init_from_env

    torch.set_num_threads(1)
    out, data = sys.argv[1], sys.argv[2]
    assert init_from_env(backend="gloo")
    rank = torch.distributed.get_rank()
    params = dict(latent_dim=3, hidden_dim=8, n_top_genes=50, adversarial_batch=True,
                  epochs=2, batch_size=16, lr=3e-3, seed=0)
    tasks = {"age": "regression", "disease": "classification"}
    torch.manual_seed(123 + rank)  # fit must not depend on the RNG state it is called in
    model = ExpressionModel(**params).fit(read_h5ad(data), tasks, batch_key="batch")
    save_file({k: v.contiguous() for k, v in model.network_.state_dict().items()},
              f"{out}/rank{rank}.safetensors")
    with open(f"{out}/steps{rank}.txt", "w") as handle:
        handle.write(str(model.history_[-1]["step"]))
    # the command line, in the same process group (it destroys the group at the end)
    cli.main(["-q", "train-expression", data, "--task", "age:regression", "--task",
              "disease:classification", "--batch-key", "batch", "--adversarial-batch",
              "--latent-dim", "3", "--hidden-dim", "8", "--n-top-genes", "50", "--epochs",
              "2", "--batch-size", "16", "--lr", "3e-3", "--seed", "0", "--out",
              f"{out}/cli"], standalone_mode=False)
''')


@pytest.mark.slow
def test_train_expression_under_torchrun_two_replicas_agree(tmp_path):
    import numpy as np
    from safetensors.torch import load_file

    from bio_mtl._random import hash_split
    from bio_mtl.dissect import simulate_expression
    from bio_mtl.expression import ExpressionModel

    adata = simulate_expression(64, seed=5)
    adata.write_h5ad(tmp_path / "d.h5ad")
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
         str(script), str(tmp_path), str(tmp_path / "d.h5ad")],
        capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = (load_file(str(tmp_path / f"rank{r}.safetensors")) for r in (0, 1))
    assert a.keys() == b.keys()
    assert all(a[k].equal(b[k]) for k in a)  # the replicas end bit-identical
    # each rank trained on its half of the batches: ceil(n_train / 16) // 2 steps per epoch
    n_train = int((~hash_split(list(map(str, adata.obs_names)), 0.1)).sum())
    steps = {(tmp_path / f"steps{r}.txt").read_text() for r in (0, 1)}
    assert steps == {str(math.ceil(n_train / 16) // 2 * 2)}
    # rank 0 of `biomtl train-expression` wrote the model of the same DDP run
    saved = load_file(str(tmp_path / "cli" / "model.safetensors"))
    assert saved.keys() == a.keys()
    assert all(saved[k].equal(a[k]) for k in a)
    doc = json.loads((tmp_path / "cli" / "config.json").read_text())
    assert doc["kind"] == "expression"
    assert doc["history"][-1]["step"] == int(steps.pop())
    cli_model = ExpressionModel.load(tmp_path / "cli")
    z = cli_model.transform(adata)[0]
    assert z.shape == (64, 3)
    assert np.isfinite(z).all()
