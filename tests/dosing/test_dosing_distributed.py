"""`biomtl train-dose` under torchrun: DDP on 2 CPU processes (gloo) gives one model."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from bio_mtl.dosing.features import read_training_table
from bio_mtl.dosing.model import DosingModel
from bio_mtl.dosing.simulate import simulate_cohort

PARAMS = {"epochs": 3, "batch_size": 16, "calibration_fraction": 0.0, "seed": 0}
COLUMNS = ["patient_id", "age", "weight_kg", "height_cm", "ancestry", "amiodarone", "inducer",
           "cyp2c9", "vkorc1", "drug", "dose_mg_per_week"]

WORKER = textwrap.dedent('''
    import sys
    import torch
    from safetensors.torch import save_file
    from bio_mtl.cli.main import cli
    from bio_mtl.dosing.features import read_training_table
    from bio_mtl.dosing.model import DosingModel
    from bio_mtl.mtl.distributed import init_from_env

    def save(model, path):
        save_file({k: v.contiguous() for k, v in model.module_.state_dict().items()}, path)

    out, data, new, config = sys.argv[1:5]
    assert init_from_env(backend="gloo")
    rank = torch.distributed.get_rank()
    rows, _ = read_training_table(data)
    model = DosingModel(epochs=3, batch_size=16, calibration_fraction=0.0, seed=0).fit(rows)
    save(model, f"{out}/fit_rank{rank}.safetensors")
    # continual learning under DDP: old heads frozen, pathway layer fine-tuned with rehearsal
    model.add_drug(read_training_table(new)[0], rehearsal=rows, finetune_pathways=True)
    save(model, f"{out}/add_rank{rank}.safetensors")
    # the command line, unchanged, in the same process group (it destroys the group at the end)
    cli.main(["-q", "train-dose", "--data", data, "--config", config, "--out", f"{out}/cli"],
             standalone_mode=False)
''')


@pytest.mark.slow
def test_train_dose_on_two_cpu_replicas(tmp_path):
    data, new = tmp_path / "warfarin.csv", tmp_path / "phenytoin.csv"
    simulate_cohort({"warfarin": 128}, seed=0)[COLUMNS].to_csv(data, index=False)
    simulate_cohort({"phenytoin": 64}, seed=1)[COLUMNS].to_csv(new, index=False)
    config = tmp_path / "dose.yaml"
    config.write_text("".join(f"{k}: {v}\n" for k, v in PARAMS.items() if k != "seed"))
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
         str(script), str(tmp_path), str(data), str(new), str(config)],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    for stage in ("fit", "add"):
        a = load_file(str(tmp_path / f"{stage}_rank0.safetensors"))
        b = load_file(str(tmp_path / f"{stage}_rank1.safetensors"))
        assert a.keys() == b.keys()
        assert all(a[k].equal(b[k]) for k in a), stage   # the replicas are bit-identical
    fit = load_file(str(tmp_path / "fit_rank0.safetensors"))
    # rank 0 of `biomtl train-dose` saved the same DDP run
    cli = load_file(str(tmp_path / "cli" / "model.safetensors"))
    assert cli.keys() == fit.keys() and all(cli[k].equal(fit[k]) for k in cli)
    # 2 ranks x 16 rows per step = one process with 32 rows per step (same shuffled order,
    # gradients averaged over the same 32 rows): equal up to float rounding
    rows, _ = read_training_table(data)
    single = DosingModel(**{**PARAMS, "batch_size": 32}).fit(rows).module_.state_dict()
    for key, value in fit.items():
        torch.testing.assert_close(value, single[key], rtol=1e-5, atol=1e-6)
    # and training did move the weights: a drug head's slopes start at exactly zero; all but
    # CYP4F2's (never genotyped here, so its activity and gradient are 0) have moved
    slopes = fit["heads.warfarin.linear.weight"][0]
    assert (slopes != 0).tolist() == [True, True, False, True, True]
