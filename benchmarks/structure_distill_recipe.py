"""Teachers, then distilled students: the structure models' training recipe in one run.

Usage::

    python benchmarks/structure_distill_recipe.py DATA_DIR WORK_DIR [--device cuda]
        [--teacher-min 4.5] [--student-min 3] [--archive DIR]

Phase 1 trains the teachers of :data:`TEACHERS` side by side (one process each, ``--epochs
auto`` so each cosine schedule fits ``--teacher-min``), each with the SS8, SS3, RSA and disorder
heads. Phase 2 saves their mean as an ensemble and trains the students of :data:`STUDENTS` on
the ensemble's soft targets (``--teacher``, ``--distill-alpha``). Every model is an ordinary
checkpoint under ``WORK_DIR``; with ``--archive`` each finished model is also packed into one
``.tar`` there (the GPU machine returns a few files only). The same command runs on CPU
(slowly); on the GPU it was run as::

    python benchmarks/structure_distill_recipe.py data/protein $WORK --device cuda \\
        --archive $OUT

Model choice (which student ships) is made afterwards on the validation split only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TASKS = "ss8,ss3,rsa,disorder"
#: (name, architecture, seed, batch tokens, learning rate)
TEACHERS = [("t0", "teacher_cnnbilstm", 0, 16384, 2e-3),
            ("t1", "teacher_cnnbilstm", 1, 16384, 2e-3),
            ("t2", "teacher_bilstm3", 2, 16384, 2e-3),
            ("t3", "teacher_cnntransformer", 3, 16384, 1e-3)]
STUDENTS = [("s0", "student_cnn128x10", 0, 16384, 3e-3),
            ("s1", "student_cnn96x10", 0, 16384, 3e-3),
            ("s2", "student_cnn128x6", 0, 16384, 3e-3)]


def _launch(spec, *, data, work, device, minutes, threads, extra=()) -> subprocess.Popen:
    name, arch, seed, tokens, lr = spec
    (work / name).mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(HERE / "train_default_structure.py"), str(data), str(work / name),
           "--arch", arch, "--seed", str(seed), "--tasks", TASKS, "--epochs", "auto",
           "--budget-min", str(minutes), "--device", device, "--threads", str(threads),
           "--batch-tokens", str(tokens), "--lr", str(lr), *extra]
    log = (work / name / "stdout.log").open("w")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


def _wait(procs: dict, work: Path) -> list[str]:
    done = []
    for name, proc in procs.items():
        code = proc.wait()
        print(f"{name}: exit {code}", flush=True)
        if code == 0 and (work / name / "model" / "model.safetensors").is_file():
            done.append(name)
        else:
            print((work / name / "stdout.log").read_text()[-3000:], flush=True)
    return done


def _archive(names, work: Path, archive: Path | None) -> None:
    if archive is None:
        return
    for name in names:
        with tarfile.open(archive / f"{name}.tar", "w") as tar:
            tar.add(work / name / "model", arcname=f"{name}/model")
            tar.add(work / name / "train_log.jsonl", arcname=f"{name}/train_log.jsonl")
            tar.add(work / name / "stdout.log", arcname=f"{name}/stdout.log")


def smoke(device: str) -> None:
    """One training step of every architecture and a distillation pass, on tiny inputs."""
    import numpy as np
    import torch

    sys.path.insert(0, str(HERE))
    from train_default_structure import ARCHITECTURES

    from bio_mtl.mtl.tasks import compute_loss
    from bio_mtl.structure.alphabet import encode_sequence
    from bio_mtl.structure.data import Chain, collate
    from bio_mtl.structure.distill import add_soft_targets
    from bio_mtl.structure.estimator import StructureEnsembleModel, StructureModel
    from bio_mtl.structure.model import (
        StructureModelConfig,
        build_structure_model,
        structure_tasks,
    )

    seq = "MKTAYIAKQRQISFVKSHFSRQ" * 3
    chain = Chain("x", seq, encode_sequence(seq), np.arange(len(seq)) % 8,
                  np.linspace(0, 1, len(seq)).astype(np.float32), np.zeros(len(seq), int))
    models = []
    for _, arch, _, _, _ in TEACHERS + STUDENTS:
        cfg = ARCHITECTURES[arch]
        cfg = StructureModelConfig(**{**cfg.to_dict(), "tasks": tuple(TASKS.split(",")),
                                      "dilations": cfg.dilations})
        model = build_structure_model(cfg).to(device)
        batch = collate([chain], cfg.tasks)
        out = model(batch["inputs"].to(device), mask=batch["forward_kwargs"]["mask"].to(device))
        loss = sum(compute_loss(t, out[t.name], batch["targets"][t.name].to(device))
                   for t in structure_tasks(cfg.tasks))
        loss.backward()
        models.append(StructureModel.from_network(model.cpu(), cfg))
    (soft,) = add_soft_targets([chain], StructureEnsembleModel.from_members(models[:4]),
                               device=device)
    assert np.isfinite(soft.soft["ss8"]).all(), "soft targets"
    print(f"smoke ok on {device} ({torch.cuda.get_device_name() if device != 'cpu' else 'cpu'})",
          flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("data_dir")
    ap.add_argument("work_dir")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--teacher-min", type=float, default=4.5)
    ap.add_argument("--student-min", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=3)
    ap.add_argument("--max-ss-chains", default=None, help="small runs (testing)")
    ap.add_argument("--archive", default=None)
    args = ap.parse_args()
    data, work = Path(args.data_dir), Path(args.work_dir)
    archive = Path(args.archive) if args.archive else None
    extra = ["--max-ss-chains", args.max_ss_chains] if args.max_ss_chains else []
    common = {"data": data, "work": work, "device": args.device, "threads": args.threads}
    smoke(args.device)
    t0 = time.time()
    procs = {s[0]: _launch(s, minutes=args.teacher_min, extra=extra, **common) for s in TEACHERS}
    teachers = _wait(procs, work)
    print(f"teachers done in {time.time() - t0:.0f} s: {teachers}", flush=True)
    _archive(teachers, work, archive)
    if not teachers:
        sys.exit(1)
    from bio_mtl.structure.ensemble import save_structure_ensemble

    ensemble = work / "teacher_ensemble"
    save_structure_ensemble([work / t / "model" for t in teachers], ensemble,
                            metadata={"description": f"mean of teachers {', '.join(teachers)}"})
    extra = [*extra, "--teacher", str(ensemble), "--distill-alpha", "0.3"]
    procs = {s[0]: _launch(s, minutes=args.student_min, extra=extra, **common) for s in STUDENTS}
    students = _wait(procs, work)
    print(f"students done at {time.time() - t0:.0f} s: {students}", flush=True)
    _archive(students, work, archive)
    for name in teachers + students:
        lines = (work / name / "stdout.log").read_text()
        start = lines.rfind('{\n  "arch"')
        if start >= 0:
            summary = json.loads(lines[start:])
            m = summary["metrics"]
            print(name, summary["arch"], "epochs", summary["epochs"], "wall_s",
                  summary["wall_s"], "val q8 %.4f q3 %.4f rsa_r %.4f disorder_auc %.4f" % (
                      m["ss8"]["accuracy"], m["ss3"]["accuracy"], m["rsa"]["pearson"],
                      m["disorder"]["auroc"]), flush=True)


if __name__ == "__main__":
    main()
