"""DDP on 2 CPU processes (gloo, launched with torchrun): the replicas end bit-identical."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import yaml
from safetensors.torch import load_file

CONFIG = {
    "data": {"n_samples": 128, "n_features": 6, "seed": 0},
    "model": {"encoder": "mlp", "encoder_params": {"hidden_dims": [16]}},
    "tasks": [{"name": "c", "kind": "classification", "n_outputs": 3},
              {"name": "r", "kind": "regression"}],
    "training": {"epochs": 3, "batch_size": 16, "lr": 0.01, "seed": 0},
}

WORKER = textwrap.dedent('''
    import dataclasses, sys
    import torch
    from safetensors.torch import save_file
    from bio_mtl.cli.main import cli
    from bio_mtl.mtl.config import load_config
    from bio_mtl.mtl.distributed import init_from_env
    from bio_mtl.mtl.experiment import (build_experiment_model, load_data, resolve_config,
                                        run_experiment)

    def save(model, path):
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)

    torch.set_num_threads(1)
    out, config_path = sys.argv[1], sys.argv[2]
    config = load_config(config_path)
    assert init_from_env(backend="gloo")
    rank = torch.distributed.get_rank()
    # DDP (loss weighting) and hand-averaged gradients (a gradient-combination strategy)
    for name in ("equal", "pcgrad"):
        run = run_experiment(config.replace(
            training=dataclasses.replace(config.training, weighting=name)))
        save(run.model, f"{out}/{name}_rank{rank}.safetensors")
        with open(f"{out}/{name}_steps{rank}.txt", "w") as handle:
            handle.write(str(run.trainer.history_[-1]["step"]))
    save(build_experiment_model(resolve_config(config, load_data(config)[0])),
         f"{out}/init.safetensors")
    # the command line, unchanged, in the same process group (it destroys the group at the end)
    cli.main(["-q", "mtl", "train", "--config", config_path, "--out", f"{out}/cli"],
             standalone_mode=False)
''')


@pytest.mark.slow
def test_two_cpu_replicas_end_with_identical_weights(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
         str(script), str(tmp_path), str(config)],
        capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    init = load_file(str(tmp_path / "init.safetensors"))
    for name in ("equal", "pcgrad"):
        a = load_file(str(tmp_path / f"{name}_rank0.safetensors"))
        b = load_file(str(tmp_path / f"{name}_rank1.safetensors"))
        assert a.keys() == b.keys() == init.keys()
        for key in a:
            assert a[key].dtype == b[key].dtype, key
            assert a[key].equal(b[key]), (name, key)  # bit-equal
        assert any(not a[k].equal(init[k]) for k in a), name  # and training did change them
        # 128 samples - 26 val - 26 test = 76 train -> 5 batches of 16; the 2 ranks share the
        # first 4 of them: 2 steps per epoch, 6 in 3 epochs
        steps = {(tmp_path / f"{name}_steps{r}.txt").read_text() for r in (0, 1)}
        assert steps == {"6"}, name
    pcgrad = load_file(str(tmp_path / "pcgrad_rank0.safetensors"))
    equal = load_file(str(tmp_path / "equal_rank0.safetensors"))
    assert any(not pcgrad[k].equal(equal[k]) for k in equal)  # the strategy did act
    # `biomtl mtl train` under torchrun: rank 0 wrote the checkpoint of the same DDP run
    cli = load_file(str(tmp_path / "cli" / "model.safetensors"))
    assert cli.keys() == equal.keys()
    assert all(cli[k].equal(equal[k]) for k in cli)
    doc = json.loads((tmp_path / "cli" / "config.json").read_text())
    assert doc["history"][-1]["step"] == 6
