"""FASTA reading/validation, labelled JSON lines and the prediction writers."""

from __future__ import annotations

import gzip
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from bio_mtl.errors import ConfigError, FastaFormatError, InputError, UnknownResidueError
from bio_mtl.structure.io import (
    FORMATS,
    SequenceRecord,
    format_table,
    parse_sequences,
    read_labelled,
    read_sequence,
    read_sequences,
    write_predictions,
    write_summary,
)
from bio_mtl.structure.results import StructurePrediction

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "fasta"
HBA = ("MVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHFDLSHGSAQVKGHGKKVADALTNAVAHVDDMPNAL"
       "SALSDLHAHKLRVDPVNFKLLSHCLLVTLAAHLPAEFTPAVHASLDKFLASVSTVLTSKYR")
CB513 = Path(__file__).resolve().parents[3] / "shared" / "data" / "protein" / "cb513.jsonl.gz"


# ------------------------------------------------------------------------------ FASTA input


def test_valid_file_policy_and_records():
    recs = read_sequences(FIX / "proteins.fasta")
    assert [r.id for r in recs] == ["sp|P69905|HBA_HUMAN", "selenoprotein", "ambiguous"]
    assert recs[0].seq == HBA
    assert len(recs[0]) == 142
    assert recs[0].description.endswith("OS=Homo sapiens")
    # lower case upper-cased, U -> C, trailing stop dropped, X kept
    assert recs[1].seq == "MKCVLX"
    # B, Z, J -> X; O (pyrrolysine) -> K
    assert recs[2].seq == "AXXXKK"
    rid, seq = recs[1]  # unpacks as (id, seq)
    assert (rid, seq) == ("selenoprotein", "MKCVLX")
    assert isinstance(recs[0], SequenceRecord)


def test_gzip_stdin_handle_and_crlf(tmp_path, monkeypatch):
    gz = tmp_path / "p.fa.gz"  # detected by magic bytes, whatever the name
    gz.write_bytes(gzip.compress((FIX / "proteins.fasta").read_bytes()))
    assert [r.seq for r in read_sequences(gz)] == [HBA, "MKCVLX", "AXXXKK"]
    disguised = tmp_path / "plain_name.fasta"
    disguised.write_bytes(gz.read_bytes())
    assert read_sequences(disguised)[0].seq == HBA
    monkeypatch.setattr("sys.stdin", io.StringIO(">s\nMKT\n"))
    assert read_sequences("-") == [SequenceRecord("s", "MKT", "s")]
    assert read_sequences(io.StringIO(">h\nmk\n"))[0].seq == "MK"
    assert [(r.id, r.seq) for r in read_sequences(FIX / "windows_newlines.fasta")] == \
        [("crlf", "MKTAYIAKQR"), ("crlf2", "GG")]


def test_parse_is_lazy_iterator():
    it = parse_sequences(FIX / "proteins.fasta")
    assert next(it).id == "sp|P69905|HBA_HUMAN"


def test_unknown_residue_message_names_file_record_line_position():
    path = FIX / "unknown_residue.fasta"
    with pytest.raises(UnknownResidueError) as err:
        read_sequences(path)
    assert str(err.value) == (
        f"{path}: record 'P69905': unknown residue '1' at position 57 (line 2); allowed: "
        "ACDEFGHIKLMNPQRSTVWY plus X/B/Z/J/U/O (mapped)")


def test_unknown_error_policy():
    with pytest.raises(UnknownResidueError, match=r"non-standard residue 'U' at position 3 "
                                                  r"\(line 6\)"):
        read_sequences(FIX / "proteins.fasta", unknown="error")
    with pytest.raises(UnknownResidueError, match="'X' at position 2"):
        read_sequences(io.StringIO(">a\nMX\n"), unknown="error")
    assert read_sequences(io.StringIO(">a\nMKT\n"), unknown="error")[0].seq == "MKT"
    with pytest.raises(ConfigError, match="choose 'x' or 'error'"):
        read_sequences(io.StringIO(">a\nMK\n"), unknown="drop")


@pytest.mark.parametrize(("name", "cls", "message"), [
    ("duplicate_ids.fasta", FastaFormatError, "record 'a': duplicate id (lines 1 and 5)"),
    ("empty_id.fasta", FastaFormatError, "record 2 (line 3) has an empty id"),
    ("empty_sequence.fasta", FastaFormatError, "record 'b': empty sequence (header on line 3)"),
    ("nucleotide.fasta", FastaFormatError,
     "record 'gene': looks like a nucleotide sequence (100% A/C/G/T/U/N over 35 letters, "
     "header on line 1); translate it"),
    ("internal_stop.fasta", FastaFormatError,
     "record 'frame': internal stop '*' at position 6 (line 2)"),
    ("aligned.fasta", FastaFormatError,
     "record 'a': gap character '-' at position 4 (line 2): aligned FASTA is not accepted"),
    ("comment_first.fasta", FastaFormatError,
     "does not look like FASTA (first line ';old-style comment line' does not start with '>')"),
    ("not_fasta.pdb", FastaFormatError,
     "does not look like FASTA (first line 'HEADER HYDROLASE 01-JAN-00 1ABC' does not start "
     "with '>'); pass a FASTA file of protein sequences"),
    ("empty.fasta", FastaFormatError, "empty file: no FASTA records"),
    ("blank_lines.fasta", FastaFormatError, "empty file: no FASTA records"),
    ("binary.fasta", FastaFormatError, "does not look like FASTA (binary content"),
])
def test_adversarial_fixtures(name, cls, message):
    path = FIX / name
    with pytest.raises(cls) as err:
        read_sequences(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)
    assert type(err.value) is cls


def test_missing_file_and_read_sequence():
    with pytest.raises(InputError, match="no such file"):
        read_sequences("/nonexistent/x.fasta")
    assert read_sequence(io.StringIO(">one\nMKT\n")).seq == "MKT"
    with pytest.raises(FastaFormatError, match="expected exactly one sequence, found 3"):
        read_sequence(FIX / "proteins.fasta")


def test_short_acgt_protein_is_not_called_nucleotide():
    # 19 letters of A/C/G/T is below the 20-letter threshold; 18/20 = 90 % is at it
    assert read_sequences(io.StringIO(">p\nACGTACGTACGTACGTACG\n"))[0].seq == "ACGTACGTACGTACGTACG"
    with pytest.raises(FastaFormatError, match="90% A/C/G/T/U/N over 20"):
        read_sequences(io.StringIO(">p\nACGTACGTACGTACGTACMK\n"))
    assert read_sequences(io.StringIO(">p\nACGTACGTACGTACGTAMKW\n"))[0].id == "p"


# ------------------------------------------------------------------------------ labelled JSONL


def _write_jsonl(path, records, gz=False):
    text = "".join(json.dumps(r) + "\n" for r in records)
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


GOOD = {"id": "c1", "seq": "MKTA", "ss8": "CHHC", "rsa": [None, 0.5, 1, 0.25], "mask": "0111"}


def test_read_labelled_valid(tmp_path):
    p = _write_jsonl(tmp_path / "d.jsonl.gz", [GOOD, {**GOOD, "id": "c2"}], gz=True)
    recs = read_labelled(p)
    assert [r["id"] for r in recs] == ["c1", "c2"]
    assert recs[0]["rsa"] == [None, 0.5, 1.0, 0.25]
    assert recs[0]["mask"] == "0111"


@pytest.mark.parametrize(("bad", "message"), [
    ({"ss8": "CHH"}, "line 2: lengths differ (seq=4, ss8=3, rsa=4, mask=4)"),
    ({"ss8": "CHXC"}, "line 2: ss8 has 'X' at position 3; allowed: BCEGHIST"),
    ({"mask": "01a1"}, "line 2: mask has 'a' at position 3; allowed: 01"),
    ({"seq": "MK1A"}, "line 2: seq has '1' at position 3"),
    ({"rsa": [None, 1.5, 0, 0]}, "line 2: rsa[2] = 1.5 is not a number in [0, 1] or null"),
    ({"id": "c1"}, "line 2: duplicate id (first on line 1)"),
])
def test_read_labelled_errors_name_file_and_line(tmp_path, bad, message):
    p = _write_jsonl(tmp_path / "d.jsonl", [GOOD, {**GOOD, "id": "c2", **bad}])
    with pytest.raises(InputError) as err:
        read_labelled(p)
    assert str(err.value).startswith(str(p))
    assert message in str(err.value)


def test_read_labelled_bad_json_and_missing_key(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text(json.dumps(GOOD) + "\n{not json\n")
    with pytest.raises(InputError, match="line 2: not valid JSON"):
        read_labelled(p)
    p.write_text(json.dumps({k: v for k, v in GOOD.items() if k != "rsa"}) + "\n")
    with pytest.raises(InputError, match="line 1: missing key\\(s\\) rsa"):
        read_labelled(p)
    p.write_text("\n")
    with pytest.raises(InputError, match="no records"):
        read_labelled(p)


def test_read_labelled_null_rsa_lower_case_and_type_errors(tmp_path):
    p = _write_jsonl(tmp_path / "d.jsonl", [{**GOOD, "seq": "mkta", "rsa": None}])
    (rec,) = read_labelled(p)
    assert rec["seq"] == "MKTA"
    assert rec["rsa"] == [None] * 4
    for bad, message in (({"seq": 1234}, "line 1: 'seq' must be a string"),
                         ({"rsa": 0.5}, "line 1: 'rsa' must be a list of numbers or null"),
                         ({"rsa": [0.1, "x", 0.2, 0.3]}, "line 1: rsa[2] = 'x' is not a number"),
                         ({"rsa": [0.1, True, 0.2, 0.3]}, "line 1: rsa[2] = True is not"),
                         ({"seq": ""}, "line 1: empty sequence"),
                         ({"mask": "01\u00e91"}, "line 1: mask has '\u00e9' at position 3")):
        _write_jsonl(p, [{**GOOD, **bad}])
        with pytest.raises(InputError) as err:
            read_labelled(p)
        assert str(err.value).startswith(f"{p}: ")
        assert message in str(err.value)


def test_read_labelled_unreadable_files(tmp_path):
    truncated = tmp_path / "t.jsonl.gz"
    truncated.write_bytes(gzip.compress((json.dumps(GOOD) + "\n").encode() * 50)[:60])
    with pytest.raises(InputError, match=r"t\.jsonl\.gz: cannot be read"):
        read_labelled(truncated)
    (tmp_path / "b.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(InputError, match=r"b\.jsonl: not a JSON-lines text file \(binary"):
        read_labelled(tmp_path / "b.jsonl")
    with pytest.raises(InputError, match="is a folder, not a file"):
        read_labelled(tmp_path)
    with pytest.raises(InputError, match="no such file"):
        read_labelled(tmp_path / "absent.jsonl")


@pytest.mark.skipif(not CB513.exists(), reason="shared CB513 file not present")
def test_read_labelled_cb513_counts_match_data_readme():
    recs = read_labelled(CB513)
    assert len(recs) == 511
    assert sum(len(r["seq"]) for r in recs) == 144_011
    assert sum(r["mask"].count("1") for r in recs) == 83_427


# ------------------------------------------------------------------------------ writers


def _prediction(pid="p1", seq="MKX"):
    ss8 = np.array([[0, 0.7, 0, 0, 0.1, 0, 0, 0.2],       # H
                    [0, 0.1, 0, 0.05, 0.6, 0, 0.05, 0.2],  # E
                    [0.1, 0, 0, 0, 0, 0.2, 0.2, 0.5]])     # C
    ss3 = np.array([[0.7, 0.1, 0.2], [0.1, 0.65, 0.25], [0.1, 0.0, 0.9]])
    return StructurePrediction(pid, seq, ss8, ss3, np.array([0.12345, 0.5, 0.9]))


def test_tsv_columns_and_values(tmp_path):
    out = tmp_path / "o.tsv"
    write_predictions([_prediction()], out)
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    assert rows[0] == ["id", "position", "residue", "ss3", "ss8", "rsa", "asa", "p_H", "p_E",
                       "p_C"]
    # asa = rsa x Tien 2013 max ASA: M 224, K 236 -> 0.12345*224 = 27.6528, 0.5*236 = 118
    assert rows[1] == ["p1", "1", "M", "H", "H", "0.123", "27.653", "0.7000", "0.1000",
                       "0.2000"]
    assert rows[2] == ["p1", "2", "K", "E", "E", "0.500", "118.000", "0.1000", "0.6500",
                       "0.2500"]
    assert rows[3][:7] == ["p1", "3", "X", "C", "C", "0.900", ""]


def test_csv_gz_json_fasta_and_summary(tmp_path):
    preds = [_prediction(), _prediction("p2", "AAA")]
    write_predictions(preds, tmp_path / "o.csv.gz", "csv")
    text = gzip.decompress((tmp_path / "o.csv.gz").read_bytes()).decode()
    assert text.splitlines()[4].startswith("p2,1,A,H,H,0.123,15.925,")  # 0.12345 * 129
    write_predictions(preds, tmp_path / "o.json", "json")
    doc = json.loads((tmp_path / "o.json").read_text())
    assert [d["id"] for d in doc] == ["p1", "p2"]
    assert doc[0]["ss3"] == "HEC"
    assert doc[0]["ss8"] == "HEC"
    assert doc[0]["p8_H"] == [0.7, 0.1, 0.0]
    assert doc[0]["p8_C"] == [0.2, 0.2, 0.5]
    assert doc[0]["asa"][2] is None
    assert doc[0]["summary"] == {"id": "p1", "length": 3, "helix": 0.3333, "strand": 0.3333,
                                 "coil": 0.3333, "mean_rsa": 0.5078}
    write_predictions(preds, tmp_path / "o.fasta", "fasta", include_ss8=True)
    assert (tmp_path / "o.fasta").read_text() == ">p1\nHEC\n>p1|ss8\nHEC\n>p2\nHEC\n>p2|ss8\nHEC\n"
    write_summary(preds, tmp_path / "s.tsv")
    assert (tmp_path / "s.tsv").read_text().splitlines() == [
        "id\tlength\thelix\tstrand\tcoil\tmean_rsa", "p1\t3\t0.333\t0.333\t0.333\t0.508",
        "p2\t3\t0.333\t0.333\t0.333\t0.508"]
    write_predictions(preds, tmp_path / "s.json", "json", summary=True)
    assert json.loads((tmp_path / "s.json").read_text())[1]["length"] == 3
    assert sorted(FORMATS) == ["csv", "fasta", "json", "tsv"]


def test_failed_write_leaves_no_file_and_keeps_old(tmp_path):
    out = tmp_path / "o.tsv"
    with pytest.raises(ConfigError, match="unknown output format 'xml'"):
        write_predictions([_prediction()], out, "xml")
    with pytest.raises(ConfigError, match="summary cannot be written as FASTA"):
        write_predictions([_prediction()], out, "fasta", summary=True)
    assert not out.exists()
    out.write_text("old\n")
    bad = _prediction()
    bad.ss3_probs = bad.ss3_probs[:1]  # breaks mid-write
    with pytest.raises(ValueError, match="shorter"):  # columns of unequal length
        write_predictions([_prediction("ok"), bad], out)
    assert out.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["o.tsv"]


def test_format_table_layout():
    p = StructurePrediction("long", "A" * 70, np.tile(np.eye(8)[1], (70, 1)),
                            np.tile([0.9, 0.05, 0.05], (70, 1)), np.linspace(0, 1, 70))
    text = format_table([p], max_residues=65)
    lines = text.splitlines()
    assert lines[0].startswith(">long  length 70  helix 1.00  strand 0.00  coil 0.00")
    assert lines[3] == "  AA:  " + "A" * 60
    assert lines[4] == "  SS3: " + "H" * 60
    assert lines[6] == "  Conf:" + "8" * 60  # 10 * (0.9 - 0.05) = 8.5 -> 8
    # RSA 0..1 in 70 steps: exposed (>= 0.25) from index 18 on
    assert lines[7] == "  RSA: " + "b" * 18 + "e" * 42
    assert lines[2].rstrip().endswith("60")
    assert "  AA:  AAAAA" in lines[10]
    assert "5 more residues not shown" in text


def test_leading_blank_lines_are_accepted():
    # Biopython's "fasta" parser alone refuses these; the reader starts at the first header
    recs = read_sequences(io.StringIO("\n  \n>a first\nMK\n\n>b\n\nLL\n"))
    assert [(r.id, r.seq) for r in recs] == [("a", "MK"), ("b", "LL")]
    # line numbers still count the blank lines
    with pytest.raises(UnknownResidueError, match=r"record 'b': unknown residue '1' at position 2 "
                                                  r"\(line 6\)"):
        read_sequences(io.StringIO("\n\n>a\nMK\n>b\nM1\n"))
