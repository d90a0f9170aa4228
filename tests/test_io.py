"""Atomic writes, gzip-aware reading and deterministic splits."""

from __future__ import annotations

import gzip

import pytest

from bio_mtl._io import atomic_write, open_text
from bio_mtl._random import hash_split


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.tsv"
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write("partial")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_write(target) as handle:
        handle.write("done")
    assert target.read_text() == "done"


def test_open_text_detects_gzip_by_content(tmp_path):
    path = tmp_path / "no_suffix"
    with gzip.open(path, "wt") as handle:
        handle.write(">a\nMK\n")
    assert open_text(path).read() == ">a\nMK\n"


def test_hash_split_is_order_independent():
    ids = [f"chain{i}" for i in range(2000)]
    mask = hash_split(ids, 0.1)
    assert 150 < mask.sum() < 250
    reordered = hash_split(ids[::-1], 0.1)[::-1]
    assert (mask == reordered).all()


def test_atomic_write_gives_the_usual_permissions(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "shared.tsv") as handle:
            handle.write("x")
    finally:
        os.umask(old)
    # as open(path, "w") would give: 0o666 & ~umask, readable by others (shipped weights!)
    assert stat.S_IMODE((tmp_path / "shared.tsv").stat().st_mode) == 0o644
