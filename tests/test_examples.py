"""The example scripts under examples/ run and find what their docstrings promise."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _chains(path: Path) -> Path:
    """Twelve labelled chains: six helix-rich (A/L/E repeats), six strand-rich (V/I/T)."""
    records = []
    for i in range(12):
        helix = i % 2 == 0
        unit, ss = ("AELLKKA", "HHHHHHH") if helix else ("TVKVIVT", "EEEEEEE")
        seq = "G" + unit * (4 + i % 3) + "G"
        ss8 = "C" + ss * (4 + i % 3) + "C"
        records.append({"id": f"toy{i}", "seq": seq, "ss8": ss8, "rsa": [0.3] * len(seq),
                        "mask": "1" * len(seq)})
    with gzip.open(path, "wt") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in records)
    return path


def test_dissect_models_example_on_structure_and_dose_latents(tmp_path, capsys):
    tables = _load("dissect_models").main(tmp_path / "out", [str(_chains(tmp_path / "c.jsonl.gz"))])
    for name in ("structure", "dose"):
        assert (tmp_path / "out" / name / "report.html").is_file()
    dose = tables["dose"].set_index("dimension")
    # the shipped warfarin model's pathway activities track the genes they are built from
    # the activity score and the diplotype encode one genotype (rank eta2 0.803 vs rho2 0.802)
    assert dose.loc["CYP2C9 clearance", "label"] in {"tracks:cyp2c9_activity", "tracks:cyp2c9"}
    assert dose.loc["VKORC1 sensitivity", "label"] == "tracks:vkorc1"
    structure = tables["structure"]
    # the first principal axis of the pooled shipped-model latent separates the helix-rich
    # from the strand-rich toy proteins
    first = structure.iloc[0]
    assert first["best_covariate"] in {"helix_fraction", "strand_fraction", "coil_fraction"}
    assert "vkorc1" in capsys.readouterr().out


def test_structure_proteome_example_finds_ubiquitins_fold(tmp_path, capsys):
    """The torch-free library example writes every residue and recovers the secondary
    structure of ubiquitin in PDB 1UBQ (HELIX Ile23-Glu34; strands 1-7, 10-17, 40-45, 66-72)."""
    import csv

    root = EXAMPLES.parent
    out = tmp_path / "ss.tsv"
    summaries = _load("structure_proteome").main(root / "data/examples/proteins.fasta", out, 2)
    with out.open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert len(rows) == sum(s["length"] for s in summaries) == 199
    ubq = "".join(r["ss3"] for r in rows if r["id"].startswith("sp|P0CG48"))
    assert len(ubq) == 76
    helix = ubq[22:34]
    strands = ubq[0:7] + ubq[9:17] + ubq[39:45] + ubq[65:72]
    assert helix.count("H") / len(helix) >= 0.8
    assert strands.count("E") / len(strands) >= 0.7
    assert "UBC_HUMAN" in capsys.readouterr().out
