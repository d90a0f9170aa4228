"""docs/architecture.md's "Adding a new application" steps build a working application.

The page's Python blocks are written, in order, into a module ``peptide_app`` (the name its
registry lines use) and imported; the last block is run as the user would. If the page and the
engine drift apart, this test fails.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def _recipe_blocks() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Adding a new application", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.fixture
def registries_restored():
    from bio_mtl.mtl.encoders import ENCODERS
    from bio_mtl.mtl.estimator import ESTIMATORS

    saved = dict(ENCODERS), dict(ESTIMATORS)
    yield
    ENCODERS.clear()
    ENCODERS.update(saved[0])
    ESTIMATORS.clear()
    ESTIMATORS.update(saved[1])
    sys.modules.pop("peptide_app", None)


def test_the_recipe_builds_an_application(tmp_path, monkeypatch, registries_restored):
    blocks = _recipe_blocks()
    assert len(blocks) == 4, "the recipe has the block, its registration, the estimator, a use"
    (tmp_path / "peptide_app.py").write_text("\n\n".join(blocks[:3]), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    app = importlib.import_module("peptide_app")
    namespace = dict(vars(app), out_dir=tmp_path)
    exec(compile(blocks[3], str(DOC), "exec"), namespace)
    model = namespace["again"]
    assert type(model).__name__ == "PeptideModel" and model.kind == "peptide"
    # it learned: charge is a linear function of the composition
    import numpy as np

    pred = model.predict(namespace["X"])["charge"]
    assert np.corrcoef(pred, namespace["charge"])[0, 1] > 0.8
