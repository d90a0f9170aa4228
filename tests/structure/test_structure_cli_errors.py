"""CLI: bad input, output paths, stdout and strict JSON of the structure commands.

Every bad input must end in one line on stderr naming the file (and record and position), the
documented exit code, no traceback and no output file.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bio_mtl.cli.main import cli

FASTA = ">ubq\nMQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG\n" \
        ">mel\nGIGAVLKVLTTGLPALISWIKRKRQQ\n"


def _library_predictions(trained):
    from bio_mtl.structure.predict import predict_structure
    from bio_mtl.structure.pretrained import load_model

    records = [("ubq", FASTA.split("\n")[1]), ("mel", FASTA.split("\n")[3])]
    return predict_structure(records, load_model(trained / "model"))


# ------------------------------------------------------------------ bad input through the CLI

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "fasta"
BAD_FASTA = {  # file (fixture or inline text) -> what the one-line message must say
    "unknown_residue.fasta": "record 'P69905': unknown residue '1' at position 57 (line 2)",
    "duplicate_ids.fasta": "record 'a': duplicate id (lines 1 and 5)",
    "empty_id.fasta": "record 2 (line 3) has an empty id",
    "empty_sequence.fasta": "record 'b': empty sequence (header on line 3)",
    "nucleotide.fasta": "record 'gene': looks like a nucleotide sequence",
    "internal_stop.fasta": "record 'frame': internal stop '*' at position 6 (line 2)",
    "aligned.fasta": "record 'a': gap character '-' at position 4 (line 2)",
    "not_fasta.pdb": "does not look like FASTA",
    "empty.fasta": "empty file: no FASTA records",
    "binary.fasta": "does not look like FASTA (binary content",
    ">a\nMKT\n>b\nAAQQ#K\n": "record 'b': unknown residue '#' at position 5 (line 4)",
    ">a\nMKTAYIAK\nMK9\n": "record 'a': unknown residue '9' at position 11 (line 3)",
    ">a\n*\n": "record 'a': empty sequence (header on line 1)",
}


@pytest.mark.parametrize("source", sorted(BAD_FASTA))
def test_bad_fasta_exits_3_with_one_line_and_no_output(trained, tmp_path, source):
    if source.startswith(">"):
        path = tmp_path / "inline.fasta"
        path.write_text(source)
    else:
        path = FIX / source
    out = tmp_path / "o.tsv"
    r = CliRunner().invoke(cli, ["predict-structure", str(path), "--model",
                                 str(trained / "model"), "-o", str(out)])
    assert r.exit_code == 3, r.output
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"Error: {path}: ")
    assert BAD_FASTA[source] in lines[0]
    assert "Traceback" not in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        (["inline.fasta"] if source.startswith(">") else [])


def test_predict_non_standard_policy_and_trailing_stop(trained, tmp_path):
    fasta = tmp_path / "in.fasta"
    fasta.write_text(">a\nmkuoBZJX*\n")
    r = CliRunner().invoke(cli, ["predict-structure", str(fasta), "--model",
                                 str(trained / "model"), "--format", "tsv"])
    assert r.exit_code == 0, r.output
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    assert "".join(row[2] for row in rows[1:]) == "MKCKXXXX"  # U->C, O->K, B/Z/J->X, * dropped
    assert rows[3][6] != "" and rows[5][6] == ""  # asa of X is empty
    r = CliRunner().invoke(cli, ["predict-structure", str(fasta), "--model",
                                 str(trained / "model"), "--unknown-residue", "error"])
    assert r.exit_code == 3
    assert "non-standard residue 'U' at position 3 (line 2)" in r.stderr


def test_predict_to_stdout_with_dash_or_format(trained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.fasta").write_text(FASTA)
    want = _library_predictions(trained)
    model = ["--model", str(trained / "model")]
    r = CliRunner().invoke(cli, ["predict-structure", "in.fasta", *model, "-o", "-",
                                 "--format", "csv"])
    assert r.exit_code == 0, r.output
    rows = r.stdout.splitlines()
    assert rows[0] == "id,position,residue,ss3,ss8,rsa,asa,p_H,p_E,p_C"
    assert len(rows) == 1 + 76 + 26
    assert not (tmp_path / "-").exists()  # once wrote a file literally named "-"
    r = CliRunner().invoke(cli, ["predict-structure", "in.fasta", *model, "--format", "json"])
    assert r.exit_code == 0, r.output
    assert [d["ss3"] for d in json.loads(r.stdout)] == [p.ss3 for p in want]
    r = CliRunner().invoke(cli, ["predict-structure", "in.fasta", *model, "-o", "-",
                                 "--summary"])
    assert r.stdout.splitlines()[1].startswith("ubq\t76\t")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.fasta"]


def test_output_problems_are_usage_errors_found_before_work(trained, tmp_path):
    (tmp_path / "in.fasta").write_text(FASTA)
    (tmp_path / "file").write_text("")
    blocked = str(tmp_path / "file" / "o.tsv")  # its folder would have to be a file
    model = ["--model", str(trained / "model")]
    runner = CliRunner()
    cases = [
        ["predict-structure", str(tmp_path / "in.fasta"), *model, "-o", blocked],
        ["predict-structure", str(tmp_path / "in.fasta"), *model, "-o", str(tmp_path / "s.fa"),
         "--summary"],
        ["evaluate-structure", *model, str(trained / "test.jsonl.gz"), "-o", blocked],
        ["evaluate-structure", *model, str(trained / "test.jsonl.gz"), "--markdown", blocked],
        ["train-structure", "--train", str(trained / "train.jsonl.gz"), "--out", blocked],
        ["build-structure-dataset", str(tmp_path / "in.fasta"), "-o", blocked],
    ]
    for args in cases:
        r = runner.invoke(cli, args)
        assert r.exit_code == 2, (args, r.output)
        assert "Traceback" not in r.output
        assert "internal error" not in r.output
        assert r.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert "cannot create" in r.stderr and "is not a directory" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "in.fasta"]


def test_evaluate_json_is_strict_and_names_are_unique(trained, tmp_path):
    (tmp_path / "b").mkdir()
    other = tmp_path / "b" / "test.jsonl.gz"
    other.write_bytes((trained / "test.jsonl.gz").read_bytes())
    out = tmp_path / "m.json"
    r = CliRunner().invoke(cli, ["evaluate-structure", "--model", str(trained / "model"),
                                 str(trained / "test.jsonl.gz"), str(other), "-o", str(out)])
    assert r.exit_code == 0, r.output

    def refuse(token):
        raise ValueError(f"non-standard JSON constant {token}")

    doc = json.loads(out.read_text(), parse_constant=refuse)  # NaN used to be written
    assert list(doc) == [f"{trained.name}/test", "b/test"]  # command-line order
    assert doc["b/test"] == doc[f"{trained.name}/test"]
    # the toy labels hold only H and E: the classes never observed have no recall (null)
    assert doc["b/test"]["ss8_classes"]["G"]["recall"] is None
    assert doc["b/test"]["ss8_classes"]["G"]["support"] == 0


def test_evaluate_and_train_read_netsurfp_npz(trained, tmp_path):
    from bio_mtl.structure.data import read_chains

    chains = read_chains(trained / "test.jsonl.gz")
    width = max(len(c) for c in chains)
    data = np.zeros((len(chains), width, 68), dtype=np.float32)
    for k, c in enumerate(chains):
        for i, (aa, s8) in enumerate(zip(c.seq, c.ss8, strict=True)):
            data[k, i, "ACDEFGHIKLMNPQRSTVWY".index(aa)] = 1
            data[k, i, 50] = 1
            data[k, i, 51:53] = s8 >= 0
            data[k, i, 55] = c.rsa[i] if s8 >= 0 else 0
            data[k, i, 57 + (s8 if s8 >= 0 else 7)] = 1
    npz = tmp_path / "Test_HHblits.npz"
    np.savez_compressed(npz, pdbids=np.array([c.id for c in chains]), data=data)
    r = CliRunner().invoke(cli, ["evaluate-structure", "--model", str(trained / "model"),
                                 str(trained / "test.jsonl.gz"), str(npz), "-o",
                                 str(tmp_path / "m.json")])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["Test_HHblits"]["q8"] == pytest.approx(doc["test"]["q8"])
    assert doc["Test_HHblits"]["n_residues_ss"] == doc["test"]["n_residues_ss"]
    assert doc["Test_HHblits"]["rsa_pearson"] == pytest.approx(doc["test"]["rsa_pearson"],
                                                               abs=1e-3)  # 3-decimal RSA
    r = CliRunner().invoke(cli, ["-q", "train-structure", "--train", str(npz), "--out",
                                 str(tmp_path / "m"), "--epochs", "1", "--val-fraction", "0.2",
                                 "--config", str(trained / "cfg.yaml")])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "m" / "config.json").read_text())["data"][0]["path"] == \
        "Test_HHblits.npz"


def test_bad_labelled_data_exits_3_and_writes_nothing(trained, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "seq": "MKTA", "ss8": "HHHH", "rsa": [0.1, "x", 0.2, 0.3], '
                   '"mask": "1111"}\n')
    runner = CliRunner()
    r = runner.invoke(cli, ["evaluate-structure", "--model", str(trained / "model"), str(bad),
                            "-o", str(tmp_path / "m.json")])
    assert r.exit_code == 3
    assert r.stderr.strip() == (f"Error: {bad}: record 'a': line 1: rsa[2] = 'x' is not a "
                                "number in [0, 1] or null")
    r = runner.invoke(cli, ["train-structure", "--train", str(bad), "--out", str(tmp_path / "m")])
    assert r.exit_code == 3
    assert "rsa[2] = 'x'" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]


def test_train_with_explicit_val_file_and_a_weighting_strategy(trained, tmp_path):
    runner = CliRunner()
    r = runner.invoke(cli, ["-q", "train-structure", "--train", str(trained / "train.jsonl.gz"),
                            "--rsa-train", str(trained / "rsa.jsonl.gz"), "--val",
                            str(trained / "test.jsonl.gz"), "--weighting", "uncertainty",
                            "--config", str(trained / "cfg.yaml"), "--epochs", "1",
                            "--out", str(tmp_path / "m")])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "m" / "config.json").read_text())
    # the --val file is the whole validation set; every --train / --rsa-train chain trains
    assert doc["metrics"]["n_val_chains"] == 10
    assert doc["metrics"]["n_train_chains"] == 60 + 30
    assert doc["config"]["params"]["training"]["weighting"] == "uncertainty"
    assert [d["path"] for d in doc["data"]] == ["train.jsonl.gz", "rsa.jsonl.gz",
                                                "test.jsonl.gz"]
    r = runner.invoke(cli, ["train-structure", "--train", str(trained / "train.jsonl.gz"),
                            "--weighting", "bogus", "--out", str(tmp_path / "x")])
    assert r.exit_code == 4
    assert "bogus" in r.stderr and "uncertainty" in r.stderr
    assert not (tmp_path / "x").exists()


def test_reader_closing_stdout_is_not_an_internal_error(trained, tmp_path):
    import subprocess
    import sys

    fasta = tmp_path / "many.fasta"
    fasta.write_text("".join(f">s{i}\nMKTAYIAKQRQISFVKSHFSRQ\n" for i in range(4000)))
    # one summary line per sequence, each its own write: like `biomtl ... | head -1`
    proc = subprocess.Popen([sys.executable, "-m", "bio_mtl.cli", "predict-structure",
                             str(fasta), "--model", str(trained / "model"), "--summary"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().startswith(b"id\tlength")
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 1, err  # click's convention for EPIPE
    assert "internal error" not in err
    assert "Traceback" not in err


def test_output_checks_by_hand(tmp_path):
    import click

    from bio_mtl.cli.outputs import check_outputs, finite_json

    check_outputs({"-o": None})
    check_outputs({"-o": "-"})
    check_outputs({"-o": str(tmp_path / "new" / "deeper" / "o.tsv")})  # creatable
    check_outputs(folders={"--out": str(tmp_path / "run")})
    check_outputs(folders={"--out": str(tmp_path)})  # an existing folder is reused (resumable)
    (tmp_path / "f").write_text("")
    for kind, path, message in (
            ("files", tmp_path, "is a directory"),
            ("files", tmp_path / "f" / "x" / "o.tsv", "is not a directory"),
            ("folders", tmp_path / "f", "exists and is not a directory"),
            ("folders", tmp_path / "f" / "run", "is not a directory")):
        with pytest.raises(click.BadParameter, match=message):
            check_outputs(**{kind: {"-o": str(path)}})
    assert finite_json({"a": (float("nan"), 1), "b": np.float64("inf")}) == \
        {"a": [None, 1], "b": None}
    assert list(tmp_path.iterdir()) == [tmp_path / "f"]  # the checks create nothing
