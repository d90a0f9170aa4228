"""Every Examples section in the library runs (the house style asks for runnable doctests)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import bio_mtl

MODULES = sorted(m.name for m in pkgutil.walk_packages(bio_mtl.__path__, "bio_mtl.")
                 if ".cli" not in m.name)


@pytest.mark.parametrize("name", MODULES)
def test_module_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{name}: {result.failed} doctest(s) failed"
