"""NetSurfP-2.0 .npz reader: exact decoding of a small file written here with numpy."""

from __future__ import annotations

import numpy as np
import pytest

from bio_mtl.errors import ConfigError, InputError
from bio_mtl.structure.npz import read_netsurfp_npz


def _protein(seq, q8, ordered, evalmask, rsa_iso, rsa_cpx, length=6):
    rows = np.zeros((length, 68), dtype=np.float32)
    for i, aa in enumerate(seq):
        if aa != "X":
            rows[i, "ACDEFGHIKLMNPQRSTVWY".index(aa)] = 1
        rows[i, 50] = 1
        rows[i, 51] = ordered[i]
        rows[i, 52] = evalmask[i]
        rows[i, 55], rows[i, 56] = rsa_iso[i], rsa_cpx[i]
        if q8[i] != "-":
            rows[i, 57 + "GHIBESTC".index(q8[i])] = 1
    return rows


@pytest.fixture
def npz_file(tmp_path):
    a = _protein("MKXW", "HHE-", [1, 1, 1, 0], [1, 1, 1, 1], [0.1234, 0.5, 1.0, 0.3],
                 [0.0, 0.25, 0.9, 0.3])
    b = _protein("GIXSTC", "GIBSTC", [1] * 6, [0, 1, 1, 1, 1, 0], [0.2] * 6, [0.1] * 6)
    path = tmp_path / "mini.npz"
    np.savez_compressed(path, pdbids=np.array(["1abcA", "2xyzB"]), data=np.stack([a, b]))
    return path


def test_decoded_values_isolated(npz_file):
    a, b = read_netsurfp_npz(npz_file)
    assert a == {"id": "1abcA", "seq": "MKXW", "ss8": "HHEC", "rsa": [0.123, 0.5, 1.0, None],
                 "mask": "1110"}
    assert b["id"] == "2xyzB"
    assert b["seq"] == "GIXSTC"
    # eval mask 0 at the ends: label replaced by the placeholder C, mask 0, RSA kept (ordered)
    assert b["ss8"] == "CIBSTC"
    assert b["mask"] == "011110"
    assert b["rsa"] == [0.2] * 6


def test_complexed_rsa(npz_file):
    a, _ = read_netsurfp_npz(npz_file, rsa="complexed")
    assert a["rsa"] == [0.0, 0.25, 0.9, None]


def test_errors(tmp_path, npz_file):
    with pytest.raises(ConfigError, match="choose 'isolated' or 'complexed'"):
        read_netsurfp_npz(npz_file, rsa="both")
    bad = tmp_path / "bad.npz"
    np.savez(bad, data=np.zeros((1, 3, 68)))
    with pytest.raises(InputError, match="missing array\\(s\\) pdbids \\(found data\\)"):
        read_netsurfp_npz(bad)
    np.savez(bad, pdbids=np.array(["a"]), data=np.zeros((1, 3, 10)))
    with pytest.raises(InputError, match="expected \\(N, L, 68\\)"):
        read_netsurfp_npz(bad)
    obj = tmp_path / "obj.npz"
    np.savez(obj, pdbids=np.array(["a"], dtype=object), data=np.zeros((1, 3, 68)))
    with pytest.raises(InputError, match="stored as Python objects"):
        read_netsurfp_npz(obj)
    text = tmp_path / "t.npz"
    text.write_text("not a zip")
    with pytest.raises(InputError, match=r"not a readable \.npz file"):
        read_netsurfp_npz(text)
