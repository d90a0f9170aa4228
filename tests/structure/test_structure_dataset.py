"""Dataset building from structures: DSSP on ideal helices built here from internal coordinates."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bio_mtl.cli.main import cli
from bio_mtl.errors import ConfigError, InputError
from bio_mtl.structure.dataset_builder import build_records, structure_records, write_records
from bio_mtl.structure.io import read_labelled

needs_mkdssp = pytest.mark.skipif(shutil.which("mkdssp") is None and shutil.which("dssp") is None,
                                  reason="mkdssp not installed (Debian package dssp)")

THREE = {"A": "ALA", "E": "GLU", "K": "LYS", "M": "MET", "T": "THR", "Y": "TYR", "I": "ILE",
         "Q": "GLN", "R": "ARG", "W": "TRP", "S": "SER", "F": "PHE", "V": "VAL", "H": "HIS",
         "G": "GLY", "L": "LEU"}
HELIX_A = "AEEAAKKAEEAAKKAEEAAA"          # observed, residues 3-22
SEQRES_A = "GS" + HELIX_A                 # two N-terminal residues never observed
SEQRES_B = "MKTAYIAKQRWISFVKSHFS"         # residues 9-10 (Q, R) are missing from the model


# ------------------------------------------------------------------ ideal helix from geometry

def _place(a, b, c, bond, angle, torsion):
    """NeRF: the atom d with |cd| = bond, angle bcd and dihedral abcd (degrees)."""
    angle, torsion = np.radians(angle), np.radians(torsion)
    bc = (c - b) / np.linalg.norm(c - b)
    n = np.cross(b - a, bc)
    n /= np.linalg.norm(n)
    m = np.stack([bc, np.cross(n, bc), n], axis=1)
    d = np.array([-bond * np.cos(angle), bond * np.sin(angle) * np.cos(torsion),
                  bond * np.sin(angle) * np.sin(torsion)])
    return c + m @ d


def _helix_atoms(n, phi=-57.0, psi=-47.0):
    """Backbone + CB of an ideal alpha helix (Engh & Huber bond lengths and angles)."""
    n_, ca = np.array([0.0, 1.458, 0.0]), np.zeros(3)
    c_ = _place(np.array([1.0, 2.0, 0.5]), n_, ca, 1.525, 111.2, 0.0)
    out = []
    for _ in range(n):
        b, c = ca - n_, c_ - ca
        cb = -0.58273431 * np.cross(b, c) + 0.56802827 * b - 0.54067466 * c + ca
        nxt = _place(n_, ca, c_, 1.329, 116.2, psi)
        out.append({"N": n_, "CA": ca, "C": c_, "O": _place(n_, ca, c_, 1.231, 120.5, psi + 180),
                    "CB": cb})
        ca2 = _place(ca, c_, nxt, 1.458, 121.7, 180.0)
        n_, ca, c_ = nxt, ca2, _place(c_, nxt, ca2, 1.525, 111.2, phi)
    return out


def _structure(chains):
    """chains: {id: (sequence, first residue number, xyz offset, residue numbers to drop)}."""
    from Bio.PDB.StructureBuilder import StructureBuilder

    sb = StructureBuilder()
    sb.init_structure("test")
    sb.init_model(0)
    serial = 1
    for cid, (seq, start, offset, drop) in chains.items():
        sb.init_chain(cid)
        sb.init_seg("    ")
        for i, (aa, atoms) in enumerate(zip(seq, _helix_atoms(len(seq)), strict=True)):
            if start + i in drop:
                continue
            sb.init_residue(THREE[aa], " ", start + i, " ")
            for name, xyz in atoms.items():
                sb.init_atom(name, xyz + np.asarray(offset), 20.0, 1.0, " ", f" {name:<3}",
                             serial, name[0])
                serial += 1
    return sb.get_structure()


def _seqres_lines(chain, seq):
    names = [THREE[a] for a in seq]
    return "".join(f"SEQRES {k // 13 + 1:>3} {chain} {len(seq):>4}  "
                   + " ".join(names[k:k + 13]) + "\n" for k in range(0, len(names), 13))


def _write_pdb(path, chains, seqres):
    import io

    from Bio.PDB import PDBIO

    pdbio = PDBIO()
    pdbio.set_structure(_structure(chains))
    body = io.StringIO()
    pdbio.save(body)
    header = "HEADER    DE NOVO PROTEIN\n" + "".join(_seqres_lines(c, s) for c, s in
                                                    seqres.items())
    path.write_text(header + body.getvalue())
    return path


@pytest.fixture
def two_helices(tmp_path):
    """Chain A: SEQRES GS + 20-residue helix (residues 3-22); chain B 9 Å away, 2-residue gap."""
    return _write_pdb(tmp_path / "helices.pdb",
                      {"A": (HELIX_A, 3, (0, 0, 0), ()),
                       "B": (SEQRES_B, 1, (9.0, 0, 0), (9, 10))},
                      {"A": SEQRES_A, "B": SEQRES_B})


# ------------------------------------------------------------------ mkdssp


@needs_mkdssp
def test_mkdssp_helix_labels_rsa_and_seqres_gaps(two_helices):
    a, b = structure_records(two_helices, context="isolated")
    assert a["id"] == "helices_A"
    assert a["seq"] == SEQRES_A
    assert a["mask"] == "00" + "1" * 20                 # GS never observed
    assert a["rsa"][:2] == [None, None]
    assert a["ss8"][:2] == "CC"
    # DSSP: the first and last observed residues have no i->i+4 partner; the core is H
    assert a["ss8"][3:21] == "H" * 18
    assert a["ss8"][2] == "C"
    assert a["ss8"][21] == "C"
    # terminal Ala: DSSP ACC 125 A^2 of a 129 A^2 maximum (Tien 2013) -> 0.969
    assert a["rsa"][2] == pytest.approx(0.969, abs=0.03)
    assert a["rsa"][21] > 0.85
    core = [a["rsa"][i] for i in range(8, 16)]
    assert all(0.2 < r < 0.8 for r in core)
    # chain B: the two missing residues (Q9, R10) are masked, the rest aligned in place
    assert b["seq"] == SEQRES_B
    assert b["mask"] == "1" * 8 + "00" + "1" * 10
    assert b["rsa"][8] is None
    assert b["rsa"][9] is None
    assert b["ss8"][8:10] == "CC"
    for r in a["rsa"][2:] + [v for v in b["rsa"] if v is not None]:
        assert 0.0 <= r <= 1.0
        assert round(r, 3) == r


@needs_mkdssp
def test_complex_context_buries_the_interface(two_helices):
    iso = structure_records(two_helices, context="isolated", chains=["A"])[0]
    cpx = structure_records(two_helices, context="complex", chains=["A"])[0]
    assert iso["ss8"] == cpx["ss8"]
    drop = [i - c for i, c in zip(iso["rsa"][2:], cpx["rsa"][2:], strict=True)]
    assert min(drop) >= -0.01                     # nothing becomes more exposed
    assert sum(drop) > 1.0                        # helices 9 Å apart shield each other
    assert max(drop) > 0.2


@needs_mkdssp
def test_mmcif_input_uses_entity_poly_seqres(tmp_path):
    from Bio.PDB import MMCIFIO

    cif = tmp_path / "one.cif"
    io = MMCIFIO()
    io.set_structure(_structure({"A": (HELIX_A, 3, (0, 0, 0), ())}))
    io.save(str(cif))
    cif.write_text(cif.read_text() + "#\n_entity_poly.entity_id 1\n_entity_poly.type "
                   f"'polypeptide(L)'\n_entity_poly.pdbx_seq_one_letter_code_can {SEQRES_A}\n"
                   "_entity_poly.pdbx_strand_id A\n#\n")
    (rec,) = structure_records(cif)
    assert rec["id"] == "one_A"
    assert rec["seq"] == SEQRES_A
    assert rec["mask"] == "00" + "1" * 20
    assert rec["ss8"][3:21] == "H" * 18


# ------------------------------------------------------------------ pydssp fallback


def test_pydssp_backend(two_helices):
    pytest.importorskip("pydssp")
    a, b = structure_records(two_helices, backend="pydssp")
    assert set(a["ss8"]) <= set("HEC")
    assert a["ss8"][4:20].count("H") >= 15
    assert a["mask"] == "00" + "1" * 20
    # Shrake-Rupley surface of the terminal Ala / 129 A^2
    assert a["rsa"][2] > 0.85
    assert b["mask"] == "1" * 8 + "00" + "1" * 10


def test_auto_backend_falls_back_to_pydssp_without_mkdssp(two_helices, tmp_path, monkeypatch,
                                                         caplog):
    pytest.importorskip("pydssp")
    want = structure_records(two_helices, backend="pydssp")
    monkeypatch.setenv("PATH", str(tmp_path))  # no mkdssp or dssp on PATH
    with caplog.at_level("WARNING", logger="bio_mtl.structure.dataset_builder"):
        got = structure_records(two_helices)
    assert got == want
    assert "using pydssp" in caplog.text
    with pytest.raises(ConfigError, match="mkdssp not found; install it"):
        structure_records(two_helices, backend="mkdssp")
    out = tmp_path / "p.jsonl"
    r = CliRunner().invoke(cli, ["build-structure-dataset", str(two_helices), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert read_labelled(out) == want


# ------------------------------------------------------------------ errors


def test_errors_name_the_file(tmp_path, two_helices):
    fasta = tmp_path / "seqs.txt"
    fasta.write_text(">a\nMKT\n")
    with pytest.raises(InputError, match=r"not a PDB or mmCIF file \(first line '>a'\)"):
        structure_records(fasta)
    water = tmp_path / "water.pdb"
    water.write_text("HEADER    WATER\nHETATM    1  O   HOH A   1       0.000   0.000   0.000"
                     "  1.00 20.00           O\nEND\n")
    with pytest.raises(InputError, match=r"water\.pdb: no protein chains"):
        structure_records(water)
    with pytest.raises(InputError, match="no protein chain C; protein chains: A, B"):
        structure_records(two_helices, chains=["C"])
    with pytest.raises(ConfigError, match="'/nonexistent/mkdssp' not found"):
        structure_records(two_helices, dssp="/nonexistent/mkdssp")
    with pytest.raises(ConfigError, match="context='membrane'"):
        structure_records(two_helices, context="membrane")
    empty = tmp_path / "empty.pdb"
    empty.write_text("")
    with pytest.raises(InputError, match="empty file"):
        structure_records(empty)


def test_dssp_failure_is_reported(two_helices, tmp_path):
    fake = tmp_path / "fake_dssp"
    fake.write_text("#!/bin/sh\necho 'mmCIF parse error: something broke' >&2\nexit 2\n")
    fake.chmod(0o755)
    with pytest.raises(InputError, match=r"helices\.pdb: DSSP failed: mmCIF parse error: "
                                         "something broke"):
        structure_records(two_helices, dssp=str(fake))


def test_write_records_roundtrip(tmp_path):
    recs = [{"id": "x_A", "seq": "MK", "ss8": "HC", "rsa": [0.5, None], "mask": "10"}]
    write_records(recs, tmp_path / "r.jsonl.gz")
    assert read_labelled(tmp_path / "r.jsonl.gz") == recs
    write_records(recs, tmp_path / "r.jsonl")
    assert (tmp_path / "r.jsonl").read_text() == \
        '{"id":"x_A","seq":"MK","ss8":"HC","rsa":[0.5,null],"mask":"10"}\n'


# ------------------------------------------------------------------ CLI


@needs_mkdssp
def test_cli_builds_and_fails_cleanly(two_helices, tmp_path):
    runner = CliRunner()
    out = tmp_path / "ds.jsonl.gz"
    r = runner.invoke(cli, ["build-structure-dataset", str(two_helices), "-o", str(out),
                            "--chains", "A"])
    assert r.exit_code == 0, r.output
    assert "wrote 1 chains (22 residues, 20 labelled)" in r.output
    (rec,) = read_labelled(out)
    assert rec == build_records([two_helices], chains=["A"])[0]
    bad = tmp_path / "bad.cif"
    bad.write_text("not a structure\n")
    out2 = tmp_path / "ds2.jsonl"
    r = runner.invoke(cli, ["build-structure-dataset", str(two_helices), str(bad), "-o",
                            str(out2)])
    assert r.exit_code == 3
    assert "bad.cif: cannot parse as mmcif" in r.output
    assert not out2.exists()
    r = runner.invoke(cli, ["build-structure-dataset", str(two_helices), "--chains", "A,Q",
                            "-o", str(out2)])
    assert r.exit_code == 3
    assert "no protein chain Q; protein chains: A, B" in r.output
    assert not out2.exists()
    r = runner.invoke(cli, ["build-structure-dataset", "--help"])
    assert r.exit_code == 0
    assert "Example:" in r.output


# ------------------------------------------------------------------ a real entry: 1CBS

CBS = Path(__file__).resolve().parents[1] / "fixtures" / "structures" / "1cbs.cif.gz"
# mkdssp 4.2.2 on the deposited 1CBS mmCIF (cellular retinoic-acid-binding protein II + ligand)
CBS_SS8 = ("CCCCEEEEEEEEESHHHHHHHTTCCHHHHHHHHHHHTSCEEEEEEETTEEEEEEECSSCEEEEEEETTSCEEEECTTSCEEE"
           "EEEEEEETTEEEEEEEESSSCCCCEEEEEEECTTSCEEEEEEETTEEEEEEEEEC")


@needs_mkdssp
def test_1cbs_matches_mkdssp_on_the_deposited_file(tmp_path):
    import gzip
    import subprocess

    from Bio.PDB.DSSP import make_dssp_dict

    from bio_mtl.structure.alphabet import MAX_ASA_TIEN2013
    from bio_mtl.structure.dataset_builder import find_mkdssp

    (rec,) = structure_records(CBS)
    assert rec["id"] == "1cbs_A"
    assert rec["seq"].startswith("PNFSGNWKIIRSENFEELLKVLGVNVMLRKIAVAAASKPAVEIKQEGDTFYIKTS")
    assert len(rec["seq"]) == 137
    assert rec["mask"] == "1" * 137
    assert rec["ss8"] == CBS_SS8
    # the same ACC as mkdssp run directly on the original mmCIF (ligand REA included there)
    original = tmp_path / "1cbs.cif"
    original.write_bytes(gzip.decompress(CBS.read_bytes()))
    out = tmp_path / "1cbs.dssp"
    subprocess.run([find_mkdssp(), "--output-format=dssp", str(original), str(out)], check=True)
    ref, keys = make_dssp_dict(str(out))
    expected = [round(min(1.0, ref[k][2] / MAX_ASA_TIEN2013[ref[k][0]]), 3) for k in keys]
    assert rec["rsa"] == expected
    assert rec["rsa"][2] == pytest.approx(1 / 240, abs=1e-3)   # Phe3: ACC 1 Å^2, buried


def test_1cbs_pydssp_agrees_with_dssp():
    pytest.importorskip("pydssp")
    (rec,) = structure_records(CBS, backend="pydssp")
    ss3 = "".join({"G": "H", "H": "H", "I": "H", "E": "E", "B": "E"}.get(c, "C") for c in CBS_SS8)
    agree = sum(a == b for a, b in zip(rec["ss8"], ss3, strict=True)) / len(ss3)
    assert agree > 0.97  # measured 0.985 (pydssp 0.9.1 vs mkdssp 4.2.2)
    assert set(rec["ss8"]) <= set("HEC")
    rsa = np.array(rec["rsa"], dtype=float)
    assert np.all((rsa >= 0) & (rsa <= 1))
    assert rsa[2] < 0.05  # buried Phe3
    assert rsa[-1] > 0.6  # exposed C-terminal Glu


@needs_mkdssp
def test_selenomethionine_keeps_its_label_without_rsa(tmp_path, monkeypatch):
    """A HETATM MSE inside a helix: H label, mask 1, rsa null; the helix is not broken."""
    import gzip
    import io

    from Bio.PDB import PDBIO

    monkeypatch.setitem(THREE, "M", "MSE")
    seq = "AEEAAKMAEEAAKKAEEAAA"
    structure = _structure({"A": (seq, 1, (0, 0, 0), ())})
    structure[0]["A"][7].id = ("H_MSE", 7, " ")
    pdbio = PDBIO()
    pdbio.set_structure(structure)
    body = io.StringIO()
    pdbio.save(body)
    assert "HETATM   31  N   MSE A   7" in body.getvalue()
    text = "HEADER    TEST\n" + _seqres_lines("A", seq) + body.getvalue()
    path = tmp_path / "mse.pdb.gz"
    path.write_bytes(gzip.compress(text.encode()))
    (rec,) = structure_records(path)
    assert rec["id"] == "mse_A"
    assert rec["seq"] == seq
    assert rec["mask"] == "1" * 20
    assert rec["ss8"] == "C" + "H" * 18 + "C"
    assert rec["rsa"][6] is None
    assert rec["rsa"][5] is not None
    assert rec["rsa"][7] is not None


def test_same_file_stem_twice_is_an_error(two_helices, tmp_path):
    pytest.importorskip("pydssp")
    other = tmp_path / "sub"
    other.mkdir()
    copy = other / "helices.pdb"
    copy.write_text(two_helices.read_text())
    with pytest.raises(InputError, match="record id 'helices_A' again"):
        build_records([two_helices, copy], backend="pydssp")
