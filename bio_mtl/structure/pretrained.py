"""Shipped structure models: named constructors around one loader core.

A model is a checkpoint directory (``model.safetensors`` + ``config.json``, see
:mod:`bio_mtl.mtl.checkpoint`). Shipped ones live in ``bio_mtl/resources/<name>/`` and are found
through :mod:`importlib.resources`, so they load after a regular (non-editable) install from any
working directory. Names follow the ESM convention: tasks, architecture, training data, version.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import CheckpointError

__all__ = ["DEFAULT_MODEL", "PRETRAINED", "available_models", "load_model", "resolve_model",
           "ss_rsa_cnnbilstm_ens2_nsp2_v1", "ss_rsa_cnnbilstm_nsp2_v1", "ss_rsa_resdcnn_nsp2_v1"]

#: The model ``predict-structure`` uses without ``--model``.
DEFAULT_MODEL = "ss_rsa_cnnbilstm_ens2_nsp2_v1"

#: Shipped model name -> one-line description.
PRETRAINED = {
    "ss_rsa_cnnbilstm_ens2_nsp2_v1": "the default: mean of two CNN + BiLSTM models (seeds 0 and "
                                     "1, member 0 = ss_rsa_cnnbilstm_nsp2_v1); twice as slow",
    "ss_rsa_cnnbilstm_nsp2_v1": "SS8 + SS3 + RSA; dilated CNN + 2-layer BiLSTM on residue tokens "
                                "(single sequence); NetSurfP-2.0 train + RSA-labelled DSSP chains",
    "ss_rsa_resdcnn_nsp2_v1": "SS8 + SS3 + RSA; residual dilated CNN on residue tokens (single "
                              "sequence); NetSurfP-2.0 train + RSA-labelled DSSP chains",
}


def available_models() -> list[str]:
    """Names of the shipped models whose files are present in this installation."""
    return [name for name in PRETRAINED if _resource_dir(name) is not None]


def _resource_dir(name: str) -> Path | None:
    from importlib.resources import files

    root = files("bio_mtl.resources") / name
    try:
        if root.is_dir() and (root / "config.json").is_file():
            return Path(str(root))
    except (FileNotFoundError, NotADirectoryError):
        return None
    return None


def resolve_model(path_or_name: str | os.PathLike | None = None) -> Path:
    """Checkpoint directory of a path or a shipped model name (``None`` = the default model).

    Raises
    ------
    CheckpointError
        If it is neither an existing directory nor a shipped model (lists the shipped names).
    """
    target = DEFAULT_MODEL if path_or_name is None else path_or_name
    path = Path(target)
    if path.is_dir():
        return path
    if isinstance(target, str) and target in PRETRAINED:
        found = _resource_dir(target)
        if found is not None:
            return found
        raise CheckpointError(f"shipped model {target!r} is missing from this installation "
                              "(bio_mtl/resources); reinstall bio_mtl")
    raise CheckpointError(f"{target}: no such model directory or shipped model; shipped models: "
                          f"{', '.join(PRETRAINED)}")


def load_model(path_or_name: str | os.PathLike | None = None):
    """Load a structure model (eval mode) from a checkpoint directory or a shipped name.

    The returned :class:`~bio_mtl.mtl.MultiTaskModel` carries ``structure_config`` (its
    :class:`~bio_mtl.structure.model.StructureModelConfig`) and ``checkpoint_info`` (the
    checkpoint's ``config.json``: metrics, data fingerprints, versions).

    Raises
    ------
    CheckpointError
        Missing, corrupt or foreign checkpoint (e.g. a dosing model), or mismatching weights.
    """
    from ..errors import ConfigError
    from ..mtl.checkpoint import load_weights, read_config
    from .model import StructureModelConfig, build_structure_model

    directory = resolve_model(path_or_name)
    doc = read_config(directory)
    if doc.get("kind") == "structure-ensemble":
        return _load_ensemble(directory, doc)
    doc = read_config(directory, kind="structure")
    try:
        config = StructureModelConfig.from_dict(doc["config"]["model"])
    except (KeyError, TypeError, ConfigError) as exc:
        raise CheckpointError(f"{directory}: bad structure model config ({exc})") from None
    model = build_structure_model(config)
    load_weights(model, directory)
    model.eval()
    model.checkpoint_info = doc
    return model


def _load_ensemble(directory: Path, doc: dict):
    """A :class:`~bio_mtl.structure.ensemble.StructureEnsemble` from its folder (eval mode)."""
    from .ensemble import StructureEnsemble

    names = doc.get("members")
    if (not isinstance(names, list) or not names
            or not all(isinstance(n, str) and n and Path(n).name == n and n not in (".", "..")
                       for n in names)):
        raise CheckpointError(f"{directory}: ensemble config.json must list its member "
                              f"folders by name under 'members' (got {names!r})")
    model = StructureEnsemble([load_model(directory / name) for name in names])
    model.eval()
    model.checkpoint_info = doc
    return model


def ss_rsa_cnnbilstm_ens2_nsp2_v1():
    """The default shipped model: the mean of two CNN + BiLSTM structure models.

    Two models of the :func:`ss_rsa_cnnbilstm_nsp2_v1` recipe trained with seeds 0 and 1 (the
    first is that model), averaged by :class:`~bio_mtl.structure.ensemble.StructureEnsemble`:
    about 0.3-0.5 points of Q3 and Q8 above one member, at twice the prediction time. See
    ``MODEL_CARD.md`` beside the weights.
    """
    return load_model("ss_rsa_cnnbilstm_ens2_nsp2_v1")


def ss_rsa_cnnbilstm_nsp2_v1():
    """One CNN + BiLSTM model: SS8, SS3 and RSA from a single sequence (the fast choice).

    A 5-block residual dilated CNN front end and a 2-layer BiLSTM (hidden 128; 1.08 M
    parameters; the NetSurfP-2.0 network family) trained for 20 epochs on the NetSurfP-2.0
    training chains (Klausen et al. 2019, Proteins 87:520) with RSA joined from DSSP-labelled
    PDB chains; see ``MODEL_CARD.md`` beside the weights for data and scores.
    """
    return load_model("ss_rsa_cnnbilstm_nsp2_v1")


def ss_rsa_resdcnn_nsp2_v1():
    """The first shipped model (the default until ``ss_rsa_cnnbilstm_nsp2_v1``).

    A 12-block residual dilated CNN (kernel 5, 128 channels, ~1 M parameters) trained on
    the NetSurfP-2.0 training chains (Klausen et al. 2019, Proteins 87:520) with RSA joined from
    DSSP-labelled PDB chains; see ``MODEL_CARD.md`` beside the weights for data and scores.
    """
    return load_model("ss_rsa_resdcnn_nsp2_v1")
