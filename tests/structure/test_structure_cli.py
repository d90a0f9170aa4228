"""CLI: train-structure, evaluate-structure and predict-structure through CliRunner.

The ``trained`` fixture (a tiny model trained with ``biomtl train-structure``) is in conftest.py.
"""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from bio_mtl.cli.main import cli


def test_train_writes_checkpoint_with_seed_and_history(trained):
    doc = json.loads((trained / "model" / "config.json").read_text())
    assert doc["kind"] == "structure"
    assert doc["seed"] == 3
    assert len(doc["history"]) == 2
    assert doc["config"]["model"]["conv_channels"] == 8
    assert (trained / "model" / "model.safetensors").is_file()


def test_train_usage_errors(trained, tmp_path):
    runner = CliRunner()
    r = runner.invoke(cli, ["train-structure", "--out", str(tmp_path / "m")])
    assert r.exit_code == 2
    assert "no training data" in r.output
    r = runner.invoke(cli, ["train-structure", "--train", str(trained / "train.jsonl.gz"),
                            "--val", str(trained / "test.jsonl.gz"), "--val-fraction", "0.1",
                            "--out", str(tmp_path / "m")])
    assert r.exit_code == 2
    assert "not both" in r.output
    assert "either --val or --val-fraction" in r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("modle: {}\n")
    r = runner.invoke(cli, ["train-structure", "--train", str(trained / "train.jsonl.gz"),
                            "--config", str(bad), "--out", str(tmp_path / "m")])
    assert r.exit_code == 4
    assert "unknown key(s) modle; valid keys: data, model, training" in r.output
    assert not (tmp_path / "m").exists()
    r = runner.invoke(cli, ["train-structure", "--help"])
    assert r.exit_code == 0
    assert "Example:" in r.output


def test_train_init_from_fine_tunes_the_saved_model(trained, tmp_path):
    runner = CliRunner()
    base = json.loads((trained / "model" / "config.json").read_text())
    r = runner.invoke(cli, ["-q", "train-structure", "--train", str(trained / "train.jsonl.gz"),
                            "--init-from", str(trained / "model"), "--out", str(tmp_path / "ft"),
                            "--epochs", "1", "--val-fraction", "0.2"])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert doc["init_from"] == str(trained / "model")
    model_keys = ("conv_channels", "conv_layers", "kernel_size", "embed_dim")
    assert [doc["config"]["model"][k] for k in model_keys] == \
        [base["config"]["model"][k] for k in model_keys]
    r = runner.invoke(cli, ["train-structure", "--train", str(trained / "train.jsonl.gz"),
                            "--init-from", str(trained / "model"), "--tasks", "ss8",
                            "--out", str(tmp_path / "bad")])
    assert r.exit_code == 4
    assert "--init-from takes the architecture" in r.output
    assert not (tmp_path / "bad").exists()


def test_evaluate_matches_library_scores(trained, tmp_path):
    from bio_mtl.structure.data import read_chains
    from bio_mtl.structure.metrics import score_predictions
    from bio_mtl.structure.predict import predict_structure
    from bio_mtl.structure.pretrained import load_model

    r = CliRunner().invoke(cli, ["evaluate-structure", "--model", str(trained / "model"),
                                 str(trained / "test.jsonl.gz"), "-o", str(tmp_path / "m.json"),
                                 "--markdown", str(tmp_path / "m.md")])
    assert r.exit_code == 0, r.output
    got = json.loads((tmp_path / "m.json").read_text())["test"]
    chains = read_chains(trained / "test.jsonl.gz")
    model = load_model(trained / "model")
    want = score_predictions(predict_structure([(c.id, c.seq) for c in chains], model), chains)
    assert got["q3"] == pytest.approx(want["q3"])
    assert got["q8"] == pytest.approx(want["q8"])
    assert got["n_residues_ss"] == sum(int((c.ss8 >= 0).sum()) for c in chains)
    assert np.isfinite(got["rsa_pearson"])
    assert "sov3" in got
    assert (tmp_path / "m.md").read_text().startswith("| data | chains | Q3 %")


def test_corrupt_checkpoint_exits_4_and_writes_nothing(trained, tmp_path):
    import shutil

    shutil.copytree(trained / "model", tmp_path / "broken")
    (tmp_path / "broken" / "model.safetensors").write_bytes(b"\x00" * 20)
    r = CliRunner().invoke(cli, ["evaluate-structure", "--model", str(tmp_path / "broken"),
                                 str(trained / "test.jsonl.gz"), "-o", str(tmp_path / "m.json")])
    assert r.exit_code == 4
    assert "corrupt" in r.output
    assert not (tmp_path / "m.json").exists()
    r = CliRunner().invoke(cli, ["evaluate-structure", "--model", str(tmp_path / "none"),
                                 str(trained / "test.jsonl.gz")])
    assert r.exit_code == 4
    assert "no such model folder or shipped model" in r.output


FASTA = ">ubq\nMQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG\n" \
        ">mel\nGIGAVLKVLTTGLPALISWIKRKRQQ\n"


def _library_predictions(trained):
    from bio_mtl.structure.predict import predict_structure
    from bio_mtl.structure.pretrained import load_model

    records = [("ubq", FASTA.split("\n")[1]), ("mel", FASTA.split("\n")[3])]
    return predict_structure(records, load_model(trained / "model"))


@pytest.mark.parametrize("fmt", ["tsv", "csv", "json", "fasta"])
def test_predict_formats(trained, tmp_path, fmt):
    import csv

    fasta = tmp_path / "in.fasta"
    fasta.write_text(FASTA)
    out = tmp_path / f"out.{fmt}"
    r = CliRunner().invoke(cli, ["predict-structure", str(fasta), "--model",
                                 str(trained / "model"), "-o", str(out), "--format", fmt])
    assert r.exit_code == 0, r.output
    assert r.stdout == ""  # only the "wrote ..." note, on stderr
    want = _library_predictions(trained)
    text = out.read_text()
    if fmt in ("tsv", "csv"):
        rows = list(csv.reader(text.splitlines(), delimiter="\t" if fmt == "tsv" else ","))
        assert rows[0] == ["id", "position", "residue", "ss3", "ss8", "rsa", "asa", "p_H",
                           "p_E", "p_C"]
        assert len(rows) == 1 + 76 + 26
        assert rows[1][:3] == ["ubq", "1", "M"]
        assert rows[76][:3] == ["ubq", "76", "G"]
        assert rows[77][:3] == ["mel", "1", "G"]
        assert "".join(row[3] for row in rows[1:77]) == want[0].ss3
        assert "".join(row[4] for row in rows[77:]) == want[1].ss8
        assert float(rows[1][5]) == pytest.approx(float(want[0].rsa[0]), abs=5e-4)
        # asa = rsa x Tien et al. 2013 maximum of Met (224 A^2)
        assert float(rows[1][6]) == pytest.approx(float(rows[1][5]) * 224.0, abs=0.2)
        assert sum(float(v) for v in rows[1][7:]) == pytest.approx(1.0, abs=2e-4)
    elif fmt == "json":
        doc = json.loads(text)
        assert [d["id"] for d in doc] == ["ubq", "mel"]
        assert doc[1]["ss3"] == want[1].ss3
        assert sorted(k for k in doc[0] if k.startswith("p8_")) == sorted(
            f"p8_{c}" for c in "GHIBESTC")
        probs8 = np.array([doc[0][f"p8_{c}"] for c in "GHIBESTC"]).T
        np.testing.assert_allclose(probs8, want[0].ss8_probs, atol=1e-4)
        assert doc[0]["summary"]["length"] == 76
    else:
        assert text == ">ubq\n" + want[0].ss3[:60] + "\n" + want[0].ss3[60:] + "\n" \
            + ">mel\n" + want[1].ss3 + "\n"


def test_predict_summary_and_stdout_table(trained, tmp_path):
    fasta = tmp_path / "in.fasta"
    fasta.write_text(FASTA)
    want = _library_predictions(trained)
    runner = CliRunner()
    r = runner.invoke(cli, ["predict-structure", str(fasta), "--model", str(trained / "model"),
                            "-o", str(tmp_path / "s.tsv"), "--summary"])
    assert r.exit_code == 0, r.output
    rows = [line.split("\t") for line in (tmp_path / "s.tsv").read_text().splitlines()]
    assert rows[0] == ["id", "length", "helix", "strand", "coil", "mean_rsa"]
    assert [row[:2] for row in rows[1:]] == [["ubq", "76"], ["mel", "26"]]
    ss3 = want[1].ss3
    assert float(rows[2][2]) == pytest.approx(ss3.count("H") / 26, abs=5e-4)
    assert sum(float(v) for v in rows[2][2:5]) == pytest.approx(1.0, abs=2e-3)
    assert float(rows[2][5]) == pytest.approx(float(np.mean(want[1].rsa)), abs=5e-4)
    # without -o: the per-residue text table on stdout, one block per sequence
    r = runner.invoke(cli, ["predict-structure", str(fasta), "--model", str(trained / "model")])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(">ubq  length 76")
    assert f"  SS3: {want[0].ss3[:60]}" in r.stdout
    assert "\n>mel  length 26" in r.stdout
    # --summary without -o prints the summary lines instead
    r = runner.invoke(cli, ["predict-structure", str(fasta), "--model", str(trained / "model"),
                            "--summary"])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == "id\tlength\thelix\tstrand\tcoil\tmean_rsa"
    assert r.stdout.splitlines()[2].startswith("mel\t26\t")


def test_predict_table_and_errors(trained, tmp_path):
    fasta = tmp_path / "in.fasta"
    fasta.write_text(FASTA)
    runner = CliRunner()
    r = runner.invoke(cli, ["predict-structure", str(fasta), "--model", str(trained / "model"),
                            "--backbone", "esm2_t6_8M_UR50D", "-o", str(tmp_path / "o.tsv")])
    assert r.exit_code == 4
    assert "drop --backbone" in r.output
    assert not (tmp_path / "o.tsv").exists()
    (tmp_path / "bad.fasta").write_text(">x\nMK1T\n")
    r = runner.invoke(cli, ["predict-structure", str(tmp_path / "bad.fasta"), "--model",
                            str(trained / "model"), "-o", str(tmp_path / "o.tsv")])
    assert r.exit_code == 3
    assert not (tmp_path / "o.tsv").exists()
    r = runner.invoke(cli, ["predict-structure", "--help"])
    assert r.exit_code == 0
    assert "Example:" in r.output


def test_predict_reads_stdin(trained, tmp_path):
    r = CliRunner().invoke(cli, ["predict-structure", "-", "--model", str(trained / "model"),
                                 "-o", str(tmp_path / "o.fasta")], input=FASTA)
    assert r.exit_code == 0, r.output
    want = _library_predictions(trained)
    assert (tmp_path / "o.fasta").read_text().split("\n")[0:3] == \
        [">ubq", want[0].ss3[:60], want[0].ss3[60:]]
