"""``train-structure`` under torchrun: 2 CPU processes (gloo) train one DDP model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from safetensors.torch import load_file

from .test_structure_train import toy_records, write_jsonl

CONFIG = ("model: {embed_dim: 8, conv_channels: 8, conv_layers: 1, kernel_size: 3, "
          "dilations: [1], lstm_layers: 1, lstm_hidden: 4, dropout: 0.0}\n"
          "training: {lr: 0.01}\ndata: {batch_tokens: 300}\n")

WORKER = textwrap.dedent('''
    import sys
    import torch
    from safetensors.torch import save_file
    from bio_mtl.cli.main import cli
    from bio_mtl.mtl.distributed import init_from_env
    from bio_mtl.mtl.trainer import TrainConfig
    from bio_mtl.structure.estimator import StructureModel
    from bio_mtl.structure.model import StructureModelConfig
    from bio_mtl.structure.train import StructureDataConfig

    torch.set_num_threads(1)
    out, train, rsa, config = sys.argv[1:5]
    assert init_from_env(backend="gloo")
    rank = torch.distributed.get_rank()
    est = StructureModel(
        model=StructureModelConfig(embed_dim=8, conv_channels=8, conv_layers=1, kernel_size=3,
                                   dilations=(1,), lstm_layers=1, lstm_hidden=4, dropout=0.0),
        training=TrainConfig(epochs=2, lr=0.01, seed=0, monitor="ss8/accuracy"),
        data=StructureDataConfig(batch_tokens=300, val_fraction=0.2))
    est.fit(train, rsa_paths=rsa)
    save_file({k: v.contiguous() for k, v in est.module_.state_dict().items()},
              f"{out}/rank{rank}.safetensors")
    with open(f"{out}/steps{rank}.txt", "w") as handle:
        handle.write(str(est.history_[-1]["step"]))
    # the command line, unchanged, in the same process group (it destroys the group at the end)
    cli.main(["-q", "train-structure", "--train", train, "--rsa-train", rsa, "--config", config,
              "--epochs", "2", "--seed", "0", "--val-fraction", "0.2", "--out", f"{out}/cli"],
             standalone_mode=False)
''')


@pytest.mark.slow
def test_two_cpu_replicas_train_one_structure_model(tmp_path):
    from bio_mtl.mtl.trainer import TrainConfig
    from bio_mtl.structure.estimator import StructureModel
    from bio_mtl.structure.model import StructureModelConfig
    from bio_mtl.structure.train import StructureDataConfig

    train = write_jsonl(tmp_path / "train.jsonl.gz", toy_records(40, 1, with_rsa=False,
                                                                 prefix="t"))
    rsa = write_jsonl(tmp_path / "rsa.jsonl.gz", toy_records(20, 2, with_rsa=True, prefix="r"))
    (tmp_path / "cfg.yaml").write_text(CONFIG)
    (tmp_path / "worker.py").write_text(WORKER)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
         str(tmp_path / "worker.py"), str(tmp_path), str(train), str(rsa),
         str(tmp_path / "cfg.yaml")], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a = load_file(str(tmp_path / "rank0.safetensors"))
    b = load_file(str(tmp_path / "rank1.safetensors"))
    assert a.keys() == b.keys()
    assert all(a[k].equal(b[k]) for k in a)  # the replicas end bit-identical
    # the same run in one process takes every batch: twice the steps, other weights
    single = StructureModel(
        model=StructureModelConfig(embed_dim=8, conv_channels=8, conv_layers=1, kernel_size=3,
                                   dilations=(1,), lstm_layers=1, lstm_hidden=4, dropout=0.0),
        training=TrainConfig(epochs=2, lr=0.01, seed=0, monitor="ss8/accuracy"),
        data=StructureDataConfig(batch_tokens=300, val_fraction=0.2)).fit(train, rsa_paths=rsa)
    per_epoch = single.history_[0]["step"]
    steps = {(tmp_path / f"steps{r}.txt").read_text() for r in (0, 1)}
    assert steps == {str(2 * (per_epoch // 2))}
    assert any(not a[k].equal(single.module_.state_dict()[k]) for k in a)
    # `biomtl train-structure` under torchrun: rank 0 wrote the model of the same DDP run
    cli = load_file(str(tmp_path / "cli" / "model.safetensors"))
    assert cli.keys() == a.keys()
    assert all(cli[k].equal(a[k]) for k in cli)
    doc = json.loads((tmp_path / "cli" / "config.json").read_text())
    assert doc["kind"] == "structure"
    assert doc["history"][-1]["step"] == 2 * (per_epoch // 2)
