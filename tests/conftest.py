"""Shared fixtures."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def runner():
    """A click CliRunner (stderr kept apart from stdout)."""
    from click.testing import CliRunner

    try:
        return CliRunner(mix_stderr=False)
    except TypeError:  # click >= 8.2 always separates them
        return CliRunner()


def _refused(res, code, *fragments):
    """Exit ``code`` with one ``Error:`` line naming every fragment, no traceback and no
    internal error (click adds its two usage lines for exit code 2)."""
    assert res.exit_code == code, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("Error: ")]
    assert len(errors) == 1, res.output
    assert len(lines) == (3 if code == 2 else 1), res.output
    assert "Traceback" not in res.output
    assert "internal error" not in res.output
    for part in fragments:
        assert part in errors[0], errors[0]


@pytest.fixture
def refused():
    """``refused(result, code, *fragments)``: assert a CLI result is a clean refusal."""
    return _refused
