"""Trainer: schedule, early stopping, masks, logging and kill-then-resume equality."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from bio_mtl.errors import CheckpointError, ConfigError
from bio_mtl.mtl import MultiTaskModel, TaskSpec
from bio_mtl.mtl.trainer import TrainConfig, Trainer
from bio_mtl.mtl.trainer_state import load_state, save_state

TASKS = [TaskSpec("a", "classification", 2), TaskSpec("b", "regression", 1)]


def _data(n=192, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    ya = (x[:, 0] + x[:, 1] > 0).long()
    yb = 2 * x[:, 2] + 0.1 * torch.randn(n, generator=g)
    return [{"inputs": x[i:i + 32], "targets": {"a": ya[i:i + 32], "b": yb[i:i + 32]}}
            for i in range(0, n, 32)]


def _model(seed=0):
    torch.manual_seed(seed)
    return MultiTaskModel(nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.1)),
                          {"a": nn.Linear(16, 2),
                           "b": nn.Sequential(nn.Linear(16, 1), nn.Flatten(0))})


def test_fit_learns_both_tasks_and_logs_json_lines(tmp_path):
    log = tmp_path / "log.jsonl"
    trainer = Trainer(_model(), TASKS, TrainConfig(epochs=15, lr=1e-2), log_path=log)
    trainer.fit(_data(), _data(seed=1))
    final = trainer.evaluate(_data(seed=2))
    assert final["a"]["accuracy"] > 0.9
    assert final["b"]["pearson"] > 0.95
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["epoch"] for r in records] == list(range(1, 16))
    assert records[-1]["val_loss"] < records[0]["val_loss"]
    assert {"val/a/accuracy", "val/b/pearson", "train/a/loss", "lr"} <= set(records[0])


def test_warmup_then_cosine_schedule_values():
    cfg = TrainConfig(epochs=1, lr=1.0, warmup_steps=4, min_lr_ratio=0.0)
    factor = Trainer(_model(), TASKS, cfg)._schedule(total_steps=14)
    # linear warm-up: (step + 1) / 4
    assert [factor(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    # cosine over the remaining 10 steps: halfway (step 9) is 0.5, the end is 0
    assert factor(9) == pytest.approx(0.5)
    assert factor(14) == pytest.approx(0.0)


def test_early_stopping_restores_best_epoch():
    # validation labels are the opposite of the training labels: the better the fit, the worse
    # the validation loss, so patience 2 must stop the run early and restore the best epoch
    val = _data()
    for b in val:
        b["targets"] = {"a": 1 - b["targets"]["a"], "b": -b["targets"]["b"]}
    cfg = TrainConfig(epochs=30, lr=1e-2, patience=2)
    trainer = Trainer(_model(), TASKS, cfg).fit(_data(), val)
    losses = [r["val_loss"] for r in trainer.history_]
    best = min(range(len(losses)), key=losses.__getitem__)
    assert len(trainer.history_) == best + 1 + 2 < 30
    assert trainer.best_epoch_ == best + 1
    assert trainer.evaluate(val)["loss"] == pytest.approx(losses[best], rel=1e-5)


def _grad_norms_at_step(grad_clip):
    """Global gradient norm the optimizer sees at each step (a pre-step hook reads it)."""
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    norms = []

    def hook(optimizer, args, kwargs):
        grads = [p.grad for g in optimizer.param_groups for p in g["params"]
                 if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack(
            [torch.linalg.vector_norm(g) for g in grads]))))

    batches = _data()[:2]
    for b in batches:
        b["targets"]["b"] = b["targets"]["b"] * 1e3  # large regression loss: norms >> 0.5
    handle = register_optimizer_step_pre_hook(hook)
    try:
        Trainer(_model(), TASKS, TrainConfig(epochs=2, lr=1e-3, grad_clip=grad_clip)) \
            .fit(batches)
    finally:
        handle.remove()
    return norms


def test_gradient_clipping_bounds_the_global_norm():
    unclipped = _grad_norms_at_step(None)
    clipped = _grad_norms_at_step(0.5)
    assert len(unclipped) == len(clipped) == 4
    assert min(unclipped) > 100.0  # what the optimizer would see without clipping
    # clip_grad_norm_ rescales by 0.5 / (norm + 1e-6): the step sees exactly 0.5
    assert clipped == pytest.approx([0.5] * 4, rel=1e-5)


def test_missing_labels_are_masked_not_learned():
    batches = _data()
    for b in batches:  # task b labelled only in the first half of every batch
        b["targets"]["b"][16:] = float("nan")
        b["masks"] = {"a": torch.arange(32) < 8}
    trainer = Trainer(_model(), TASKS, TrainConfig(epochs=2))
    losses, counts, _ = trainer._losses(trainer.model, batches[0])
    assert counts == {"a": 8, "b": 16}
    assert torch.isfinite(losses["b"])
    batches[0]["masks"]["a"][:] = False  # no label of a left: a is absent from the step
    losses, counts, _ = trainer._losses(trainer.model, batches[0])
    assert list(losses) == list(counts) == ["b"]


def test_unknown_monitor_is_a_config_error():
    with pytest.raises(ConfigError, match="a/accuracy"):
        Trainer(_model(), TASKS, TrainConfig(monitor="a/auc"))
    with pytest.raises(ConfigError, match="unknown key"):
        TrainConfig.from_dict({"epochs": 2, "learning_rate": 1})


def test_corrupt_resume_state_raises(tmp_path):
    save_state(tmp_path / "last", {"x": torch.ones(2)})
    (tensors,) = (tmp_path / "last").glob("state*.safetensors")
    tensors.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="corrupt resumable trainer state.*delete"):
        load_state(tmp_path / "last")
    tensors.unlink()
    with pytest.raises(CheckpointError, match=f"names {tensors.name}, which is missing"):
        load_state(tmp_path / "last")


def test_resume_state_json_is_the_commit_point(tmp_path, monkeypatch):
    import bio_mtl.mtl.trainer_state as ts

    save_state(tmp_path, {"epoch": 1, "w": torch.ones(2)})
    real = ts.atomic_write

    def fail_on_json(path, *args, **kwargs):  # killed after the tensors, before the JSON
        if str(path).endswith("state.json"):
            raise KeyboardInterrupt
        return real(path, *args, **kwargs)

    monkeypatch.setattr(ts, "atomic_write", fail_on_json)
    with pytest.raises(KeyboardInterrupt):
        save_state(tmp_path, {"epoch": 2, "w": torch.zeros(2)})
    state = load_state(tmp_path)  # the previous, consistent pair: epoch 1 with its tensors
    assert state["epoch"] == 1
    assert state["w"].tolist() == [1.0, 1.0]
    monkeypatch.setattr(ts, "atomic_write", real)
    save_state(tmp_path, {"epoch": 3, "w": torch.full((2,), 3.0)})
    assert load_state(tmp_path)["w"].tolist() == [3.0, 3.0]
    assert len(list(tmp_path.glob("state*.safetensors"))) == 1  # older tensor files removed


def test_resume_reads_the_previous_state_layout(tmp_path):
    from safetensors.torch import save_file

    # before state.json named its tensor file: fixed name state.safetensors
    save_file({"s.w": torch.ones(2)}, str(tmp_path / "state.safetensors"))
    (tmp_path / "state.json").write_text(json.dumps(
        {"__dict__": [["epoch", 4], ["w", {"__tensor__": "s.w"}]]}))
    assert load_state(tmp_path)["epoch"] == 4
    assert load_state(tmp_path)["w"].tolist() == [1.0, 1.0]


def test_resume_refuses_state_of_another_model(tmp_path):
    cfg = TrainConfig(epochs=1, lr=1e-2)
    Trainer(_model(), TASKS, cfg, checkpoint_dir=tmp_path).fit(_data())
    other = MultiTaskModel(nn.Linear(6, 4), {"a": nn.Linear(4, 2), "b": nn.Linear(4, 1)})
    with pytest.raises(CheckpointError, match="does not fit this model.*another run"):
        Trainer(other, TASKS, TrainConfig(epochs=2, lr=1e-2),
                checkpoint_dir=tmp_path).fit(_data())
    # the same model with other settings: refused by name; more epochs are allowed
    with pytest.raises(CheckpointError, match=r"other training settings \(lr 0.01 -> 0.001"):
        Trainer(_model(), TASKS, TrainConfig(epochs=2), checkpoint_dir=tmp_path).fit(_data())
    longer = Trainer(_model(), TASKS, TrainConfig(epochs=2, lr=1e-2), checkpoint_dir=tmp_path)
    assert [r["epoch"] for r in longer.fit(_data()).history_] == [1, 2]


SCRIPT = textwrap.dedent("""
    import os, signal, sys, torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset
    from bio_mtl.mtl import MultiTaskModel, TaskSpec
    from bio_mtl.mtl.trainer import Trainer, TrainConfig
    from safetensors.torch import save_file

    ckpt, out, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    g = torch.Generator().manual_seed(0)
    x = torch.randn(160, 6, generator=g)
    ds = TensorDataset(x, (x[:, 0] > 0).long(), x[:, 1] * 3)
    loader = DataLoader(ds, batch_size=16, shuffle=True)   # order drawn from the global RNG
    class Batches:
        def __len__(self): return len(loader)
        def __iter__(self):
            for xb, ya, yb in loader:
                yield {"inputs": xb, "targets": {"a": ya, "b": yb}}
    torch.manual_seed(1)
    model = MultiTaskModel(nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.2)),
                           {"a": nn.Linear(8, 2), "b": nn.Sequential(nn.Linear(8, 1), nn.Flatten(0))})
    class Killer:
        n = 0
        def start(self, total, description): pass
        def advance(self, n=1):
            Killer.n += n
            if Killer.n == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
        def log(self, record): pass
        def finish(self): pass
    cfg = TrainConfig(epochs=6, lr=1e-2, warmup_steps=5, seed=7)
    Trainer(model, [TaskSpec("a", "classification", 2), TaskSpec("b", "regression")], cfg,
            progress=Killer(), checkpoint_dir=ckpt).fit(Batches())
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out)
""")


@pytest.mark.slow
def test_kill_mid_run_then_resume_matches_uninterrupted_run(tmp_path):
    from safetensors.torch import load_file

    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    run = lambda ckpt, out, kill: subprocess.run(  # noqa: E731
        [sys.executable, str(script), str(tmp_path / ckpt), str(tmp_path / out), str(kill)],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    full = run("ck_full", "full.safetensors", -1)
    assert full.returncode == 0, full.stderr
    # killed in the middle of epoch 4 (10 batches per epoch): state of epoch 3 is on disk
    killed = run("ck_kill", "resumed.safetensors", 35)
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "resumed.safetensors").exists()
    assert load_state(tmp_path / "ck_kill" / "last")["epoch"] == 3
    resumed = run("ck_kill", "resumed.safetensors", -1)
    assert resumed.returncode == 0, resumed.stderr
    a, b = load_file(tmp_path / "full.safetensors"), load_file(tmp_path / "resumed.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
