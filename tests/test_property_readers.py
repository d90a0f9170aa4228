"""Property-based tests: every reader either parses or raises bio_mtl's own errors.

Random bytes and near-valid FASTA, JSON lines, CSV and YAML are fed to the readers a user's
file reaches; any other exception (UnicodeDecodeError, KeyError, IndexError, ...) would be an
internal error (exit code 1) and fails the test.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bio_mtl.errors import BioMTLError

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
AMINO = "ACDEFGHIKLMNPQRSTVWYXUOBZJ*-. 1>\n\r\t;"


def _file(data: bytes, suffix: str) -> Path:
    handle = tempfile.NamedTemporaryFile(delete=False, suffix=suffix)
    handle.write(data)
    handle.close()
    return Path(handle.name)


def _parses_or_refuses(reader, data: bytes, suffix: str) -> None:
    path = _file(data, suffix)
    try:
        reader(path)
    except BioMTLError:
        pass
    finally:
        path.unlink()


near_fasta = st.lists(
    st.tuples(st.text(alphabet="abcXYZ_|:. 0123", max_size=12),
              st.text(alphabet=AMINO, max_size=60)),
    max_size=4,
).map(lambda recs: "".join(f">{h}\n{s}\n" for h, s in recs).encode())

near_jsonl = st.lists(
    st.fixed_dictionaries({}, optional={
        "id": st.one_of(st.text(max_size=5), st.integers(), st.none()),
        "seq": st.text(alphabet="ACDEXU", max_size=6),
        "ss8": st.text(alphabet="GHIBESTCX", max_size=6),
        "rsa": st.lists(st.one_of(st.floats(allow_nan=True), st.none(), st.text(max_size=2)),
                        max_size=6),
        "mask": st.text(alphabet="012", max_size=6),
    }), max_size=3,
).map(lambda recs: "\n".join(__import__("json").dumps(r) for r in recs).encode())

near_csv = st.lists(
    st.lists(st.one_of(st.sampled_from(["Age", "Height (cm)", "Weight (kg)", "warfarin",
                                        "CYP2C9 consensus", "*1/*3", "A/G", "70", "-1",
                                        "300", "", "nan", "Asian", "drug",
                                        "dose_mg_per_week"]),
                       st.text(max_size=4)), min_size=1, max_size=6),
    min_size=1, max_size=5,
).map(lambda rows: "\n".join(",".join(r) for r in rows).encode())

near_yaml = st.one_of(
    st.text(alphabet="abcdefgh: -[]{}\n'\"0123456789.#!&*", max_size=80).map(str.encode),
    st.dictionaries(st.sampled_from(["epochs", "lr", "model", "training", "data", "hidden"]),
                    st.one_of(st.integers(), st.text(max_size=5), st.floats(), st.none()),
                    max_size=4).map(lambda d: __import__("yaml").safe_dump(d).encode()),
)


@SETTINGS
@given(st.one_of(st.binary(max_size=200), near_fasta))
def test_fasta_reader(data):
    from bio_mtl.structure import read_sequences

    _parses_or_refuses(read_sequences, data, ".fasta")


@SETTINGS
@given(st.one_of(st.binary(max_size=200), near_jsonl))
def test_labelled_chain_reader(data):
    from bio_mtl.structure.data import read_chains

    _parses_or_refuses(read_chains, data, ".jsonl")


@SETTINGS
@given(st.one_of(st.binary(max_size=200), near_csv))
def test_patient_table_reader(data):
    from bio_mtl.dosing.features import read_dose_table

    _parses_or_refuses(read_dose_table, data, ".csv")


@SETTINGS
@given(st.one_of(st.binary(max_size=200), near_yaml))
def test_config_reader(data):
    from bio_mtl.mtl.config import load_config, read_mapping

    _parses_or_refuses(read_mapping, data, ".yaml")
    _parses_or_refuses(load_config, data, ".yaml")


@SETTINGS
@given(st.one_of(st.binary(max_size=200), near_yaml))
def test_dosing_params_reader(data):
    from bio_mtl.dosing.params import read_params

    _parses_or_refuses(read_params, data, ".yaml")


@SETTINGS
@given(st.one_of(st.binary(max_size=200),
                 st.text(alphabet="ABC\t\n_ 12", max_size=80).map(str.encode)))
def test_gene_set_reader(data):
    from bio_mtl.dissect.enrichment import read_gmt

    _parses_or_refuses(read_gmt, data, ".gmt")


near_genotype = st.lists(
    st.tuples(st.sampled_from(["CYP2C9", "VKORC1", "CYP4F2", "CYP2C19", "rs9923231",
                               "rs12248560", "GENE", ""]),
              st.text(alphabet="*123456789ACGTacgt/|:;-rs ", max_size=10)),
    max_size=4,
).map(lambda pairs: "; ".join(f"{g}={a}" for g, a in pairs))


@SETTINGS
@given(st.one_of(st.text(max_size=40), near_genotype))
def test_genotype_string_parser(text):
    from bio_mtl.dosing.genotypes import parse_genotype_string

    try:
        parse_genotype_string(text)
    except BioMTLError:
        pass
