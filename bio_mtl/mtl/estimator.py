"""The estimator contract every trainable bio_mtl model follows (scikit-learn's, adapted).

* ``__init__`` takes keyword hyperparameters only and stores them unchanged (no validation,
  no work); :meth:`Estimator.get_params` reads them back from the signature.
* ``fit(...)`` learns and returns ``self``; everything it learns ends in ``_`` (``module_``,
  ``history_``).
* Using an estimator before ``fit`` (or :meth:`Estimator.load`) raises
  :class:`~bio_mtl.errors.NotFittedError`.
* :meth:`Estimator.save` / :meth:`Estimator.load` go through :mod:`bio_mtl.mtl.checkpoint`
  (``model.safetensors`` + ``config.json``); the checkpoint's ``kind`` maps back to the class
  through :data:`ESTIMATORS`, so :func:`load_estimator` opens any saved or shipped model.

A subclass sets :attr:`Estimator.kind` and implements ``fit``, :meth:`Estimator._checkpoint`
(what to save) and :meth:`Estimator._restore` (rebuild from a checkpoint). Hyperparameters that
are frozen dataclasses (a model config) are saved as dicts and rebuilt through
:func:`~bio_mtl.mtl._dataclasses.dataclass_from_dict`, so a mistyped saved value is a
:class:`~bio_mtl.errors.ConfigError` naming the key.

References
----------
Buitinck L et al. API design for machine learning software: experiences from the
scikit-learn project. ECML PKDD Workshop 2013, arXiv:1309.0238.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import types
import typing
from pathlib import Path
from typing import Any, ClassVar

from ..errors import CheckpointError, ConfigError, NotFittedError

__all__ = ["ESTIMATORS", "Estimator", "get_estimator", "load_estimator"]

#: checkpoint ``kind`` -> ``"module:Class"`` of its estimator. Imported lazily, so the engine
#: names the applications' estimators without importing any application.
ESTIMATORS: dict[str, str] = {
    "mtl": "bio_mtl.mtl.experiment:MultiTaskEstimator",
    "structure": "bio_mtl.structure.estimator:StructureModel",
    "structure-ensemble": "bio_mtl.structure.estimator:StructureEnsembleModel",
    "dosing": "bio_mtl.dosing.model:DosingModel",
    "expression": "bio_mtl.expression.model:ExpressionModel",
}


class Estimator:
    """Base class of bio_mtl's estimators (see the module docstring for the contract).

    Attributes
    ----------
    kind : str
        The checkpoint ``kind`` this class saves and loads (a key of :data:`ESTIMATORS`).
    metadata_ : dict
        After :meth:`load`: everything in ``config.json`` besides the config (versions,
        metrics, seed, data fingerprints).

    Examples
    --------
    >>> class Mean(Estimator):
    ...     kind = "mean"
    ...     def __init__(self, *, shift: float = 0.0) -> None:
    ...         self.shift = shift
    ...     def fit(self, values):
    ...         self.mean_ = sum(values) / len(values) + self.shift
    ...         return self
    >>> Mean(shift=1.0).get_params()
    {'shift': 1.0}
    >>> Mean().fit([1, 2, 3]).mean_
    2.0
    >>> Mean().check_is_fitted()
    Traceback (most recent call last):
    ...
    bio_mtl.errors.NotFittedError: this Mean is not fitted yet; call fit() or Mean.load(folder)
    """

    kind: ClassVar[str] = ""

    # -- parameters ---------------------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        """Names of the ``__init__`` keyword hyperparameters."""
        names = []
        for name, p in inspect.signature(cls.__init__).parameters.items():
            if name == "self":
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                msg = f"{cls.__name__}.__init__ must list its hyperparameters explicitly"
                raise TypeError(msg)
            names.append(name)
        return names

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Hyperparameters as passed to ``__init__`` (``deep`` is accepted for scikit-learn)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Estimator:
        """Set hyperparameters; return ``self``.

        Raises
        ------
        ConfigError
            For a name that is not a hyperparameter (listing the valid ones).
        """
        valid = self._param_names()
        for key, value in params.items():
            if key not in valid:
                raise ConfigError(f"{type(self).__name__}: unknown parameter {key!r}; valid: "
                                  f"{', '.join(valid)}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        defaults = {n: p.default for n, p in
                    inspect.signature(type(self).__init__).parameters.items()}
        changed = [f"{k}={v!r}" for k, v in self.get_params().items()
                   if not _same(v, defaults.get(k, inspect.Parameter.empty))]
        return f"{type(self).__name__}({', '.join(changed)})"

    # -- fitted state -------------------------------------------------------------------------
    def is_fitted(self) -> bool:
        """Whether the estimator holds fitted state (an attribute ending in ``_``)."""
        return any(k.endswith("_") and not k.startswith("_") for k in vars(self))

    def check_is_fitted(self) -> None:
        """Raise :class:`~bio_mtl.errors.NotFittedError` unless fitted or loaded."""
        if not self.is_fitted():
            name = type(self).__name__
            raise NotFittedError(f"this {name} is not fitted yet; call fit() or "
                                 f"{name}.load(folder)")

    # -- persistence --------------------------------------------------------------------------
    def _checkpoint(self) -> tuple[Any, dict]:
        """``(module whose state_dict is saved, JSON-ready fitted state)`` for :meth:`save`."""
        raise NotImplementedError

    def _restore(self, config: dict, directory: Path) -> None:
        """Rebuild the fitted state from ``config`` (``config.json``'s ``config``)."""
        raise NotImplementedError

    def save(self, directory: str | os.PathLike, **metadata: Any) -> Path:
        """Save as ``model.safetensors`` + ``config.json`` (kind :attr:`kind`).

        Parameters
        ----------
        directory
            Output folder (created).
        **metadata
            More JSON-ready facts for ``config.json`` (metrics, data fingerprints, ...).

        Returns
        -------
        Path
            ``directory``.
        """
        from .checkpoint import save_checkpoint

        self.check_is_fitted()
        module, state = self._checkpoint()
        config = {"params": _params_to_json(self.get_params()), **state}
        return save_checkpoint(directory, module, kind=self.kind, config=config, **metadata)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> Estimator:
        """Rebuild a saved estimator (strict weight check).

        Raises
        ------
        CheckpointError
            Not a checkpoint of this kind, or weights that do not fit.
        ConfigError
            Saved hyperparameters that are unknown or mistyped.
        """
        from .checkpoint import read_config

        doc = read_config(directory, kind=cls.kind)
        config = doc.get("config") or {}
        est = cls(**_params_from_json(cls, config.get("params") or {}, where=str(directory)))
        est._restore(config, Path(directory))
        est.metadata_ = {k: v for k, v in doc.items() if k != "config"}
        return est


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # arrays and the like: never "unchanged"
        return False


def _to_json(value: Any) -> Any:
    from ._dataclasses import dataclass_to_dict

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclass_to_dict(value)
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    return value


def _params_to_json(params: dict[str, Any]) -> dict[str, Any]:
    """Hyperparameters as JSON: dataclasses (also inside lists and tuples) become dicts."""
    return {k: _to_json(v) for k, v in params.items()}


def _from_json(hint: Any, value: Any, where: str) -> Any:
    """A saved value back into its annotated type (dataclasses, tuples of dataclasses)."""
    from ._dataclasses import dataclass_from_dict

    target = _dataclass_type(hint)
    if target is not None and isinstance(value, dict):
        builder = getattr(target, "from_dict", None)
        return builder(value) if builder is not None else \
            dataclass_from_dict(target, value, where=where)
    if isinstance(value, list):
        element = _element_type(hint)
        items = [_from_json(element, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if _is_tuple(hint) else items
    return value


def _params_from_json(cls: type, params: dict[str, Any], *, where: str) -> dict[str, Any]:
    """Saved hyperparameters back into ``__init__`` values (dicts into their dataclasses)."""
    valid = cls._param_names()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ConfigError(f"{where}: unknown saved parameter(s) {', '.join(unknown)} for "
                          f"{cls.__name__}; valid: {', '.join(valid)}")
    hints = typing.get_type_hints(cls.__init__)
    return {k: _from_json(hints.get(k), v, f"{where}: {k}") for k, v in params.items()}


def _options(hint: Any) -> tuple:
    return (hint, *typing.get_args(hint)) if typing.get_origin(hint) in (typing.Union,
                                                                         types.UnionType) \
        else (hint,)


def _dataclass_type(hint: Any) -> type | None:
    """The dataclass in ``hint`` (``Config`` or ``Config | None``), if any."""
    for option in _options(hint):
        if isinstance(option, type) and dataclasses.is_dataclass(option):
            return option
    return None


def _is_tuple(hint: Any) -> bool:
    """Whether ``hint`` (``tuple[...]``, ``tuple[...] | None``) admits a tuple."""
    return any(option is tuple or typing.get_origin(option) is tuple
               for option in _options(hint))


def _element_type(hint: Any) -> Any:
    """The element type of ``tuple[X, ...]`` / ``list[X]`` (also inside ``| None``)."""
    for option in _options(hint):
        if typing.get_origin(option) in (tuple, list):
            args = [a for a in typing.get_args(option) if a is not Ellipsis]
            if len(args) == 1:
                return args[0]
    return None


def get_estimator(kind: str) -> type[Estimator]:
    """The estimator class that saves checkpoints of ``kind``.

    Raises
    ------
    CheckpointError
        For a kind no estimator saves (listing the known kinds).
    """
    if kind not in ESTIMATORS:
        raise CheckpointError(f"unknown model kind {kind!r}; bio_mtl saves "
                              f"{', '.join(sorted(ESTIMATORS))}")
    module, name = ESTIMATORS[kind].split(":")
    return getattr(importlib.import_module(module), name)


def load_estimator(name_or_path: str | os.PathLike, *, kind: str | None = None) -> Estimator:
    """Load any saved or shipped bio_mtl model, whatever its kind.

    Parameters
    ----------
    name_or_path
        A checkpoint folder, or the name of a shipped model
        (:data:`bio_mtl.resources.SHIPPED`).
    kind
        Refuse any other kind (a :class:`~bio_mtl.errors.CheckpointError` naming both).

    Returns
    -------
    Estimator
        The fitted estimator of the checkpoint's kind.
    """
    from ..resources import shipped_path
    from .checkpoint import read_config

    with shipped_path(name_or_path) as directory:
        found = read_config(directory, kind=kind).get("kind")
        return get_estimator(found).load(directory)
