"""A battery of bad and hostile inputs over every command (issue 11's contract).

Every case runs one command through click's CliRunner in a fresh working folder holding the
usual inputs, and asserts the contract of docs/cli.md:

* the documented exit code;
* one line on stderr, starting ``Error:``, never a traceback;
* no new file or folder appeared (a refused or failed command leaves nothing behind);
* every input file's bytes and permission bits are unchanged.

Cases that must succeed (writing to ``/dev/null``, a table without its outcome column) assert
the same about the inputs, and that the device is still a device.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from bio_mtl.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
FASTA = ">p1\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n>p2\nGSHMSLFDFFKNKGSAAATAASK\n"
PATIENTS = (ROOT / "data" / "examples" / "patients.csv").read_text()
CHAIN = {"id": "c1", "seq": "MKTAYIAKQR", "ss8": "CCHHHHHHCC", "rsa": [0.5] * 10,
         "mask": "1111111111"}
BINARY = bytes(range(256)) * 4


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny trained mtl model and structure model, shared by the cases that read one."""
    base = tmp_path_factory.mktemp("models")
    config = base / "tiny.yaml"
    text = (ROOT / "examples" / "synthetic.yaml").read_text()
    config.write_text(text.replace("epochs: 15", "epochs: 1").replace("n_samples: 600",
                                                                      "n_samples: 120"))
    runner = CliRunner()
    result = runner.invoke(cli, ["-q", "mtl", "train", "--config", str(config),
                                 "--out", str(base / "mtl")])
    assert result.exit_code == 0, result.output
    from bio_mtl.structure import StructureModelConfig
    from bio_mtl.structure.estimator import StructureModel

    net = StructureModelConfig(embed_dim=8, conv_channels=8, conv_layers=1, lstm_layers=0)
    StructureModel.from_network(_tiny_network(net), net).save(base / "structure")
    return base


def _tiny_network(cfg):
    import torch

    from bio_mtl.structure.model import build_structure_model

    torch.manual_seed(0)
    return build_structure_model(cfg).eval()


def _inputs(work: Path) -> None:
    (work / "s.fa").write_text(FASTA)
    (work / "bad.fa").write_bytes(BINARY)
    (work / "empty.fa").write_text("")
    (work / "unknown.fa").write_text(">u\nMKT7AYI\n")
    (work / "x.pdb").write_text("HEADER    PROTEIN\nATOM      1  N   MET A   1      11.1  "
                                "13.2  14.1  1.00  0.00           N\n")
    with gzip.open(work / "d.jsonl.gz", "wt") as handle:
        handle.write(json.dumps(CHAIN) + "\n")
    (work / "bad.jsonl").write_text('{"id": "c", "seq": "AC"}\n')
    (work / "p.csv").write_text(PATIENTS)
    (work / "iw.csv").write_text((ROOT / "data" / "examples" / "patients_iwpc.csv").read_text())
    (work / "bad.csv").write_bytes(BINARY)
    (work / "nocol.csv").write_text("patient_id,age\nP1,60\n")
    (work / "old.csv").write_text(PATIENTS.replace("P001,65,", "P001,300,"))
    (work / "neg.csv").write_text(PATIENTS.replace("P001,65,70,", "P001,65,-70,"))
    (work / "bin.yaml").write_bytes(b"\xff\xfe\x00\x01epochs: 3\n")
    (work / "many.yaml").write_text("epochs: many\n")
    (work / "unknown.yaml").write_text("epochz: 3\n")
    (work / "list.yaml").write_text("- 1\n- 2\n")
    (work / "not.h5ad").write_text("not an h5ad file\n")
    (work / "sets.gmt").write_bytes(BINARY)
    (work / "a_file").write_text("a file, not a folder\n")
    corrupt = work / "corrupt_model"
    corrupt.mkdir()
    (corrupt / "config.json").write_text('{"format": "bio_mtl.checkpoint/1", "kind": "mtl", '
                                         '"config": {}}')
    (corrupt / "model.safetensors").write_bytes(b"\x00" * 64)
    garbage = work / "garbage_model"
    garbage.mkdir()
    (garbage / "config.json").write_bytes(BINARY)


def _snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    out = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        out[str(path.relative_to(folder))] = (digest, stat.S_IMODE(st.st_mode))
    return out


# (id, argv with {m} = the models folder, exit code, a regular expression the message matches)
CASES = [
    # predict-structure
    ("ps-output-is-input", ["predict-structure", "s.fa", "-o", "s.fa"], 2, "also an input"),
    ("ps-output-is-input-dotted", ["predict-structure", "s.fa", "-o", "./s.fa"], 2,
     "also an input"),
    ("ps-binary-fasta", ["predict-structure", "bad.fa"], 3, "bad.fa"),
    ("ps-empty-fasta", ["predict-structure", "empty.fa"], 3, "empty.fa"),
    ("ps-unknown-residue", ["predict-structure", "unknown.fa", "--unknown-residue", "error"], 3,
     "unknown.fa"),
    ("ps-pdb-as-fasta", ["predict-structure", "x.pdb"], 3, "x.pdb"),
    ("ps-missing-file", ["predict-structure", "nope.fa"], 2, "nope.fa"),
    ("ps-folder-as-input", ["predict-structure", "corrupt_model"], 2, "corrupt_model"),
    ("ps-output-is-folder", ["predict-structure", "s.fa", "-o", "corrupt_model"], 2,
     "director|folder"),
    ("ps-output-in-model", ["predict-structure", "s.fa", "--model", "{m}/structure", "-o",
                            "{m}/structure/model.safetensors"], 2, "inside the model folder"),
    ("ps-missing-model", ["predict-structure", "s.fa", "--model", "no_such_model"], 4,
     "no_such_model"),
    ("ps-corrupt-model", ["predict-structure", "s.fa", "--model", "corrupt_model"], 4,
     "corrupt_model"),
    ("ps-garbage-model", ["predict-structure", "s.fa", "--model", "garbage_model"], 4,
     "garbage_model"),
    ("ps-threads-zero", ["predict-structure", "s.fa", "--threads", "0"], 2, "threads"),
    ("ps-threads-text", ["predict-structure", "s.fa", "--threads", "many"], 2, "threads"),
    ("ps-bad-shard", ["predict-structure", "s.fa", "--shard", "3/2"], 2, "shard"),
    ("ps-batch-tokens", ["predict-structure", "s.fa", "--batch-tokens", "-1"], 2,
     "batch-tokens"),
    ("ps-parent-is-file", ["predict-structure", "s.fa", "-o", "a_file/out.tsv"], 2, "a_file"),
    # evaluate-structure
    ("es-markdown-is-input", ["evaluate-structure", "--model", "{m}/structure", "d.jsonl.gz",
                              "--markdown", "d.jsonl.gz"], 2, "also an input"),
    ("es-json-is-input", ["evaluate-structure", "--model", "{m}/structure", "d.jsonl.gz",
                          "-o", "d.jsonl.gz"], 2, "also an input"),
    ("es-bad-records", ["evaluate-structure", "--model", "{m}/structure", "bad.jsonl"], 3,
     "bad.jsonl"),
    ("es-fasta-as-labelled", ["evaluate-structure", "--model", "{m}/structure", "s.fa"], 3,
     "s.fa"),
    ("es-output-in-model", ["evaluate-structure", "--model", "{m}/structure", "d.jsonl.gz",
                            "-o", "{m}/structure/config.json"], 2, "inside the model folder"),
    # build-structure-dataset
    ("bsd-output-is-input", ["build-structure-dataset", "x.pdb", "-o", "x.pdb"], 2,
     "also an input"),
    ("bsd-not-a-structure", ["build-structure-dataset", "s.fa", "-o", "out.jsonl.gz"], 3,
     "s.fa"),
    ("bsd-binary", ["build-structure-dataset", "bad.fa", "-o", "out.jsonl.gz"], 3, "bad.fa"),
    # train-structure
    ("ts-binary-config", ["train-structure", "--train", "d.jsonl.gz", "--config", "bin.yaml",
                          "--out", "run"], 4, "bin.yaml"),
    ("ts-list-config", ["train-structure", "--train", "d.jsonl.gz", "--config", "list.yaml",
                        "--out", "run"], 4, "list.yaml"),
    ("ts-unknown-key", ["train-structure", "--train", "d.jsonl.gz", "--config", "unknown.yaml",
                        "--out", "run"], 4, "epochz"),
    ("ts-out-is-file", ["train-structure", "--train", "d.jsonl.gz", "--out", "a_file"], 2,
     "a_file"),
    ("ts-bad-records", ["train-structure", "--train", "bad.jsonl", "--out", "run"], 3,
     "bad.jsonl"),
    ("ts-epochs-zero", ["train-structure", "--train", "d.jsonl.gz", "--epochs", "0", "--out",
                        "run"], 2, "epochs"),
    ("ts-out-in-model", ["train-structure", "--train", "d.jsonl.gz", "--init-from",
                         "{m}/structure", "--out", "{m}/structure/again"], 2, "inside"),
    # dose
    ("dose-output-is-input", ["dose", "--input", "p.csv", "-o", "p.csv"], 2, "also an input"),
    ("dose-binary-table", ["dose", "--input", "bad.csv", "-o", "out.csv"], 3, "bad.csv"),
    ("dose-missing-column", ["dose", "--input", "nocol.csv", "-o", "out.csv"], 3, "nocol.csv"),
    ("dose-age-300", ["dose", "--input", "old.csv", "-o", "out.csv"], 3, "row"),
    ("dose-weight-negative", ["dose", "--input", "neg.csv", "-o", "out.csv"], 3, "row"),
    ("dose-unknown-allele", ["dose", "--genotype", "CYP2C9=*1/*99", "--age", "65", "--weight",
                             "70", "--height", "175"], 3, r"\*99"),
    ("dose-mixed-strands", ["dose", "--genotype", "VKORC1=A/C", "--age", "65", "--weight", "70",
                            "--height", "175"], 3, "VKORC1"),
    ("dose-rsid-mixed-strands", ["dose", "--genotype", "rs9923231=C/A", "--age", "65",
                                 "--weight", "70", "--height", "175"], 3, "rs9923231"),
    ("dose-malformed-genotype", ["dose", "--genotype", "CYP2C9", "--age", "65", "--weight",
                                 "70", "--height", "175"], 3, "CYP2C9"),
    ("dose-age-300-single", ["dose", "--genotype", "CYP2C9=*1/*1", "--age", "300", "--weight",
                             "70", "--height", "175"], 3, "age"),
    ("dose-corrupt-model", ["dose", "--input", "p.csv", "-o", "out.csv", "--model",
                            "corrupt_model"], 4, "corrupt_model"),
    ("dose-output-in-model", ["dose", "--input", "p.csv", "--model", "{m}/mtl", "-o",
                              "{m}/mtl/out.csv"], 2, "inside the model folder"),
    ("dose-output-is-folder", ["dose", "--input", "p.csv", "-o", "corrupt_model"], 2,
     "director|folder"),
    # calibrate-dose and federated train-dose (iw.csv: IWPC rows with the outcome)
    ("cd-binary-table", ["calibrate-dose", "--data", "bad.csv", "--out", "site"], 3, "bad.csv"),
    ("cd-no-outcome", ["calibrate-dose", "--data", "p.csv", "--out", "site"], 3,
     "p.csv.*observed stable dose"),
    ("cd-out-is-file", ["calibrate-dose", "--data", "iw.csv", "--out", "a_file"], 2, "a_file"),
    ("cd-missing-file", ["calibrate-dose", "--data", "nope.csv", "--out", "site"], 2, "nope.csv"),
    ("cd-foreign-model", ["calibrate-dose", "--model", "corrupt_model", "--data", "iw.csv",
                          "--out", "site"], 4, "corrupt_model"),
    ("cd-garbage-model", ["calibrate-dose", "--model", "garbage_model", "--data", "iw.csv",
                          "--out", "site"], 4, "garbage_model"),
    ("cd-unknown-drug", ["calibrate-dose", "--data", "iw.csv", "--out", "site", "--drug",
                         "aspirin"], 3, "aspirin"),
    ("cd-bad-level", ["calibrate-dose", "--data", "iw.csv", "--out", "site", "--levels",
                      "bogus"], 4, "bogus"),
    ("tdf-no-site-column", ["train-dose", "--data", "iw.csv", "--federated", "--site-column",
                            "nope", "--out", "run"], 3, "iw.csv.*nope"),
    ("tdf-zero-rounds", ["train-dose", "--data", "iw.csv", "--federated", "--rounds", "0",
                         "--out", "run"], 2, "rounds"),
    # train-dose / evaluate-dose
    ("td-binary-config", ["train-dose", "--data", "p.csv", "--config", "bin.yaml", "--out",
                          "run"], 4, "bin.yaml"),
    ("td-epochs-many", ["train-dose", "--data", "p.csv", "--config", "many.yaml", "--out",
                        "run"], 4, "epochs"),
    ("td-unknown-key", ["train-dose", "--data", "p.csv", "--config", "unknown.yaml", "--out",
                        "run"], 4, "epochz"),
    ("td-out-is-file", ["train-dose", "--data", "p.csv", "--out", "a_file"], 2, "a_file"),
    ("td-binary-table", ["train-dose", "--data", "bad.csv", "--out", "run"], 3, "bad.csv"),
    ("ed-folds-one", ["evaluate-dose", "--data", "p.csv", "--folds", "1"], 2, "folds"),
    ("ed-folds-zero", ["evaluate-dose", "--data", "p.csv", "--folds", "0"], 2, "folds"),
    ("ed-folds-negative", ["evaluate-dose", "--data", "p.csv", "--folds", "-3"], 2, "folds"),
    ("ed-output-is-input", ["evaluate-dose", "--data", "p.csv", "-o", "p.csv"], 2,
     "also an input"),
    # train-expression
    ("te-same-column-twice", ["train-expression", "x.h5ad", "--task", "age:regression",
                              "--task", "age:classification", "--out", "run"], 2, "age"),
    ("te-not-h5ad", ["train-expression", "not.h5ad", "--task", "age:regression", "--out",
                     "run"], 3, "not.h5ad"),
    ("te-out-is-input", ["train-expression", "not.h5ad", "--task", "age:regression", "--out",
                         "not.h5ad"], 2, "not.h5ad"),
    # dissect
    ("di-not-h5ad", ["dissect", "--data", "not.h5ad", "--latent-key", "X_pca", "--covariate",
                     "age", "--out", "rep"], 3, "not.h5ad"),
    ("di-binary-gene-sets", ["dissect", "--data", "not.h5ad", "--latent-key", "X_pca",
                             "--covariate", "age", "--gene-sets", "sets.gmt", "--out", "rep"],
     3, r"sets\.gmt|not\.h5ad"),
    ("di-corrupt-model", ["dissect", "--model", "corrupt_model", "--data", "not.h5ad",
                          "--covariate", "age", "--out", "rep"], 4, "corrupt_model"),
    ("di-out-is-file", ["dissect", "--data", "not.h5ad", "--latent-key", "X_pca", "--covariate",
                        "age", "--out", "a_file"], 2, "a_file"),
    # mtl
    ("mtl-binary-config", ["mtl", "train", "--config", "bin.yaml", "--out", "run"], 4,
     "bin.yaml"),
    ("mtl-list-config", ["mtl", "train", "--config", "list.yaml", "--out", "run"], 4,
     "list.yaml"),
    ("mtl-out-is-file", ["mtl", "train", "--config", str(ROOT / "examples" / "synthetic.yaml"),
                         "--out", "a_file"], 2, "a_file"),
    ("mtl-eval-output-in-model", ["mtl", "evaluate", "--model", "{m}/mtl", "-o",
                                  "{m}/mtl/config.json"], 2, "inside the model folder"),
    ("mtl-eval-missing-model", ["mtl", "evaluate", "--model", "no_such_model"], 4,
     "no_such_model"),
    ("mtl-eval-corrupt-model", ["mtl", "evaluate", "--model", "corrupt_model"], 4,
     "corrupt_model"),
    ("mtl-eval-garbage-model", ["mtl", "evaluate", "--model", "garbage_model"], 4,
     "garbage_model"),
]


def _run(work: Path, argv: list[str], models: Path):
    argv = [a.replace("{m}", str(models)) for a in argv]
    runner = CliRunner()
    cwd = os.getcwd()
    os.chdir(work)
    try:
        return runner.invoke(cli, argv, catch_exceptions=True)
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize(("argv", "code", "pattern"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_is_refused_cleanly(tmp_path, models, argv, code, pattern):
    import re

    work = tmp_path / "work"
    work.mkdir()
    _inputs(work)
    before, models_before = _snapshot(work), _snapshot(models)
    result = _run(work, argv, models)
    message = (result.stderr if result.stderr_bytes is not None else result.output).strip()
    assert result.exit_code == code, f"exit {result.exit_code}: {result.output}"
    assert ("Traceback" not in result.output and result.exception is None) or \
        isinstance(result.exception, SystemExit), result.output
    lines = [line for line in message.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("Error"), message
    error_lines = [line for line in lines if not line.startswith(("Usage:", "Try "))]
    assert len(error_lines) == 1, message
    assert re.search(pattern, message, flags=re.I), message
    assert _snapshot(work) == before  # nothing new, every input unchanged (bytes and mode)
    assert _snapshot(models) == models_before


def test_device_outputs_are_written_not_replaced(tmp_path, models):
    work = tmp_path / "work"
    work.mkdir()
    _inputs(work)
    before = _snapshot(work)
    for argv in (["predict-structure", "s.fa", "--model", "{m}/structure", "-o", "/dev/null"],
                 ["dose", "--input", "p.csv", "-o", "/dev/null"]):
        result = _run(work, argv, models)
        assert result.exit_code == 0, result.output
        assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert _snapshot(work) == before


def test_iwpc_table_without_the_outcome_column_is_predicted(tmp_path, models):
    work = tmp_path / "work"
    work.mkdir()
    import pandas as pd

    table = pd.read_csv(ROOT / "data" / "examples" / "patients_iwpc.csv")
    table.drop(columns=[c for c in table if c.startswith("Therapeutic Dose")]).to_csv(
        work / "new.csv", index=False)
    result = _run(work, ["dose", "--input", "new.csv", "-o", "pred.csv"], models)
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(work / "pred.csv")) == len(table)


def test_the_battery_covers_every_command():
    from bio_mtl.cli.main import COMMANDS

    covered = {c[1][0] for c in CASES}
    assert covered >= set(COMMANDS), set(COMMANDS) - covered
    assert len(CASES) >= 60
