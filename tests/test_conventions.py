"""House-style conventions over the whole public API (scanpy/sklearn-style convention tests)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import bio_mtl

PUBLIC_MODULES = sorted(
    m.name for m in pkgutil.walk_packages(bio_mtl.__path__, "bio_mtl.")
    if not any(part.startswith("_") for part in m.name.split(".")[1:])
    and ".cli" not in m.name
)


def _public_objects():
    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", []):
            obj = getattr(module, attr)
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and \
                    obj.__module__.startswith("bio_mtl"):
                yield f"{obj.__module__}.{obj.__qualname__}", obj


OBJECTS = dict(_public_objects())

# Documented exceptions: compute_loss mirrors torch.nn.functional losses (task, input, target,
# mask), the order every caller already uses.
POSITIONAL_EXCEPTIONS = {"bio_mtl.mtl.tasks.compute_loss"}


def test_public_modules_declare_all():
    missing = [n for n in PUBLIC_MODULES if not hasattr(importlib.import_module(n), "__all__")]
    assert not missing, f"modules without __all__: {missing}"


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_public_objects_have_docstrings(name):
    assert inspect.getdoc(OBJECTS[name]), f"{name} has no docstring"


@pytest.mark.parametrize("name", sorted(n for n, o in OBJECTS.items()
                                        if inspect.isfunction(o) and n not in POSITIONAL_EXCEPTIONS))
def test_at_most_three_positional_parameters(name):
    params = inspect.signature(OBJECTS[name]).parameters.values()
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    assert len(positional) <= 3, f"{name}: {len(positional)} positional parameters"
    flags = [p.name for p in positional if isinstance(p.default, bool)]
    assert not flags, f"{name}: boolean parameters must be keyword-only: {flags}"
