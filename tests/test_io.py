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


def test_atomic_write_writes_device_files_and_fifos_directly(tmp_path):
    import os
    import stat
    import threading

    with atomic_write("/dev/null") as handle:
        handle.write("discarded")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)  # still the device, not a regular file
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    with atomic_write(fifo) as handle:
        handle.write("through the pipe")
    reader.join(5)
    assert got == ["through the pipe"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no temporary file


def test_atomic_write_keeps_a_symlink_and_replaces_its_target(tmp_path):
    target = tmp_path / "real.tsv"
    target.write_text("old")
    link = tmp_path / "link.tsv"
    link.symlink_to(target)
    with atomic_write(link) as handle:
        handle.write("new")
    assert link.is_symlink() and target.read_text() == "new"


def test_write_failures_are_output_errors_and_leave_nothing(tmp_path):
    import errno

    from bio_mtl._io import atomic_folder
    from bio_mtl.errors import OutputError

    with pytest.raises(OutputError, match="no space left on the device"), \
            atomic_write("/dev/full") as handle:
        handle.write("x" * 100_000)
        handle.flush()
    target = tmp_path / "out.tsv"
    with pytest.raises(OutputError, match="out.tsv: cannot write: no space left"), \
            atomic_write(target) as handle:
        handle.write("partial")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []
    model = tmp_path / "model"
    with pytest.raises(OutputError), atomic_folder(model) as tmp:
        (tmp / "model.safetensors").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []  # no half-written model folder


def test_failed_checkpoint_save_leaves_no_model_folder(tmp_path, monkeypatch):
    import errno

    import torch

    import bio_mtl.mtl.checkpoint as ckpt
    from bio_mtl.errors import OutputError

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("safetensors.torch.save_model", full_disk)
    with pytest.raises(OutputError, match="no space left"):
        ckpt.save_checkpoint(tmp_path / "m", torch.nn.Linear(2, 2), kind="mtl", config={})
    assert list(tmp_path.iterdir()) == []
