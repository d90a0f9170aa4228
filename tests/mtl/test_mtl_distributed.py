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
        save(run.model_, f"{out}/{name}_rank{rank}.safetensors")
        with open(f"{out}/{name}_steps{rank}.txt", "w") as handle:
            handle.write(str(run.history_[-1]["step"]))
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


ABSENT_WORKER = textwrap.dedent('''
    import sys
    import torch
    from torch import nn
    from safetensors.torch import save_file
    from bio_mtl.mtl.distributed import init_from_env
    from bio_mtl.mtl.model import MultiTaskModel
    from bio_mtl.mtl.tasks import TaskSpec
    from bio_mtl.mtl.trainer import Trainer, TrainConfig

    torch.set_num_threads(1)
    out, names = sys.argv[1], sys.argv[2].split(",")
    assert init_from_env(backend="gloo")
    rank = torch.distributed.get_rank()
    TASKS = [TaskSpec("a", "regression"), TaskSpec("b", "classification", 3),
             TaskSpec("c", "classification", 2)]

    def model():
        torch.manual_seed(0)
        return MultiTaskModel(nn.Sequential(nn.Linear(4, 8), nn.Tanh()),
                              {"a": nn.Sequential(nn.Linear(8, 1), nn.Flatten(0)),
                               "b": nn.Linear(8, 3), "c": nn.Linear(8, 2)})

    def batch(seed, labelled):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(16, 4, generator=g)
        t = {"a": x[:, 0] - x[:, 1], "b": (x[:, 1] > 0).long() + (x[:, 2] > 0).long(),
             "c": (x[:, 3] > 0).long()}
        for name in "bc":
            if name not in labelled:
                t[name] = torch.full((16,), -100)
        if "a" not in labelled:
            t["a"] = torch.full((16,), float("nan"))
        return {"inputs": x, "targets": t}

    # batch i goes to rank i % 2: rank 0 never sees c and its second batch has no label at
    # all; rank 1 sees c in both of its batches
    batches = [batch(0, "ab"), batch(1, "abc"), batch(2, ""), batch(3, "c")]
    for name in names:
        trainer = Trainer(model(), TASKS, TrainConfig(epochs=2, lr=0.05, weighting=name))
        trainer.fit(batches)
        save_file({k: v.contiguous() for k, v in trainer.model.state_dict().items()},
                  f"{out}/{name}_model{rank}.safetensors")
        save_file({k: v.contiguous() for k, v in trainer.weighting.state_dict().items()},
                  f"{out}/{name}_state{rank}.safetensors")
''')

#: DDP-wrapped loss weighting, and hand-averaged gradient strategies
ABSENT_STRATEGIES = ("equal", "famo", "gradnorm", "uncertainty", "mgda", "pcgrad")


@pytest.mark.slow
def test_a_task_absent_on_one_rank_keeps_the_replicas_identical(tmp_path):
    """``c`` is labelled on rank 1 only, and one step of rank 0 has no label at all.

    DDP must not wait for the gradient of a head that no loss on this rank reaches, the hand
    all-reduce of the gradient strategies must reduce the same tensors on every rank, and a
    rank without any label must still take part in the step.
    """
    script = tmp_path / "worker.py"
    script.write_text(ABSENT_WORKER)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
         str(script), str(tmp_path), ",".join(ABSENT_STRATEGIES)],
        capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import torch

    from bio_mtl.mtl.weighting import get_weighting

    for name in ABSENT_STRATEGIES:
        a, b = (load_file(str(tmp_path / f"{name}_model{r}.safetensors")) for r in (0, 1))
        assert a.keys() == b.keys()
        assert all(a[k].equal(b[k]) for k in a), name  # bit-equal replicas
        torch.manual_seed(0)  # the initial weights of the worker's model()
        init = [torch.nn.Linear(4, 8), torch.nn.Linear(8, 1), torch.nn.Linear(8, 3),
                torch.nn.Linear(8, 2)]
        assert not a["encoder.0.weight"].equal(init[0].weight.detach()), name
        # c's head learned from rank 1's labels, identically on both ranks
        assert not a["heads.c.weight"].equal(init[3].weight.detach()), name
        state0 = load_file(str(tmp_path / f"{name}_state0.safetensors"))
        state1 = load_file(str(tmp_path / f"{name}_state1.safetensors"))
        fresh = get_weighting(name, ["a", "b", "c"]).state_dict()
        for key, value in state0.items():  # rank 0 never saw c: its state of c is initial
            if value.dim() == 1 and len(value) == 3:
                assert value[2].equal(fresh[key][2]) or (value[2].isnan() and
                                                         fresh[key][2].isnan()), (name, key)
        if name == "famo":
            assert state1["logits"][2] != 0.0  # while rank 1's strategy did see it
