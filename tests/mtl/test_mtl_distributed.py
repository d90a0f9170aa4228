"""DDP on 2 CPU processes (gloo, launched with torchrun): the replicas end bit-identical."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from safetensors.torch import load_file

WORKER = textwrap.dedent('''
    import sys
    import torch
    from safetensors.torch import save_file
    from bio_mtl.mtl.config import parse_config
    from bio_mtl.mtl.distributed import cleanup, init_from_env
    from bio_mtl.mtl.experiment import (build_experiment_model, load_data, resolve_config,
                                        run_experiment)

    torch.set_num_threads(1)
    out = sys.argv[1]
    config = parse_config({
        "data": {"n_samples": 128, "n_features": 6, "seed": 0},
        "model": {"encoder": "mlp", "encoder_params": {"hidden_dims": [16]}},
        "tasks": [{"name": "c", "kind": "classification", "n_outputs": 3},
                  {"name": "r", "kind": "regression"}],
        "training": {"epochs": 3, "batch_size": 16, "lr": 0.01, "seed": 0},
    })
    assert init_from_env(backend="gloo")
    rank = torch.distributed.get_rank()
    run = run_experiment(config)
    init = build_experiment_model(resolve_config(config, load_data(config)[0]))
    save_file({k: v.contiguous() for k, v in run.model.state_dict().items()},
              f"{out}/rank{rank}.safetensors")
    save_file({k: v.contiguous() for k, v in init.state_dict().items()}, f"{out}/init.safetensors")
    with open(f"{out}/steps{rank}.txt", "w") as handle:
        handle.write(str(run.trainer.history_[-1]["step"]))
    cleanup()
''')


@pytest.mark.slow
def test_two_cpu_replicas_end_with_identical_weights(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
         str(script), str(tmp_path)],
        capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a = load_file(str(tmp_path / "rank0.safetensors"))
    b = load_file(str(tmp_path / "rank1.safetensors"))
    init = load_file(str(tmp_path / "init.safetensors"))
    assert a.keys() == b.keys() == init.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        assert a[key].equal(b[key]), key  # bit-equal
    assert any(not a[k].equal(init[k]) for k in a)  # and training did change them
    # 128 samples - 26 val - 26 test = 76 train -> 5 batches of 16; the 2 ranks share the
    # first 4 of them: 2 steps per epoch, 6 in 3 epochs
    steps = {(tmp_path / f"steps{r}.txt").read_text() for r in (0, 1)}
    assert steps == {"6"}
