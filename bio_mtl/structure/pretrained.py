"""Shipped structure models: named constructors around one loader core.

A model is a checkpoint folder (``model.safetensors`` + ``config.json``, see
:mod:`bio_mtl.mtl.checkpoint`) or an ensemble folder of them. Shipped ones are listed in
:data:`bio_mtl.resources.SHIPPED` and found through :func:`bio_mtl.resources.shipped_path`, so
they load after a regular (non-editable) install from any working directory. Names follow the
ESM convention: tasks, architecture, training data, version.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..resources import available

if TYPE_CHECKING:  # the estimators (and torch) load with the first model, not with the names
    from .estimator import StructureEnsembleModel, StructureModel

__all__ = ["ACCURATE_MODEL", "DEFAULT_MODEL", "FAST_MODEL", "PRETRAINED", "available_models",
           "load_model", "ss_rsa_cnnbilstm_ens2_nsp2_v1", "ss_rsa_cnnbilstm_nsp2_v1",
           "ss_rsa_dis_dcnn96x10_kd_nsp2_v1", "ss_rsa_dis_ens3_nsp2_v1", "ss_rsa_resdcnn_nsp2_v1"]

#: The model ``predict-structure`` uses without ``--model``.
DEFAULT_MODEL = "ss_rsa_cnnbilstm_ens2_nsp2_v1"
#: The fastest shipped model (a distilled convolutional student with ONNX graphs).
FAST_MODEL = "ss_rsa_dis_dcnn96x10_kd_nsp2_v1"
#: The most accurate shipped model (slower than the default).
ACCURATE_MODEL = "ss_rsa_dis_ens3_nsp2_v1"

#: Shipped structure model name -> one-line description (the names are those of
#: :data:`bio_mtl.resources.SHIPPED` whose kind is a structure kind).
PRETRAINED = {
    "ss_rsa_cnnbilstm_ens2_nsp2_v1": "the default: mean of two CNN + BiLSTM models (seeds 0 and "
                                     "1, member 0 = ss_rsa_cnnbilstm_nsp2_v1); ships ONNX graphs",
    "ss_rsa_cnnbilstm_nsp2_v1": "SS8 + SS3 + RSA; dilated CNN + 2-layer BiLSTM on residue tokens "
                                "(single sequence); NetSurfP-2.0 train + RSA-labelled DSSP chains",
    "ss_rsa_resdcnn_nsp2_v1": "SS8 + SS3 + RSA; residual dilated CNN on residue tokens (single "
                              "sequence); NetSurfP-2.0 train + RSA-labelled DSSP chains",
    "ss_rsa_dis_dcnn96x10_kd_nsp2_v1": "the fast choice: SS8 + SS3 + RSA + disorder; 10-block "
                                       "dilated CNN distilled from a teacher ensemble; ships "
                                       "its ONNX graph (--backend onnx)",
    "ss_rsa_dis_ens3_nsp2_v1": "the accurate choice: the default's two CNN + BiLSTM members and "
                               "a CNN + Transformer (SS8 + SS3 + RSA + disorder); ~3x slower",
}


def available_models() -> list[str]:
    """Names of the shipped structure models whose files are present in this installation."""
    return available("structure")


def load_model(path_or_name: str | os.PathLike | None = None
               ) -> StructureModel | StructureEnsembleModel:
    """Load a structure model or ensemble from a checkpoint folder or a shipped name.

    Parameters
    ----------
    path_or_name
        A checkpoint or ensemble folder, or a shipped model name; ``None`` is
        :data:`DEFAULT_MODEL`.

    Returns
    -------
    StructureModel or StructureEnsembleModel
        Fitted; ``metadata_`` holds the checkpoint's ``config.json`` facts (metrics, data
        fingerprints, versions).

    Raises
    ------
    CheckpointError
        Missing, corrupt or foreign checkpoint (e.g. a dosing model), or mismatching weights.

    Examples
    --------
    >>> load_model("ss_rsa_cnnbilstm_nsp2_v1").config_.lstm_layers
    2
    """
    from .estimator import load_structure

    return load_structure(DEFAULT_MODEL if path_or_name is None else path_or_name)


def ss_rsa_cnnbilstm_ens2_nsp2_v1() -> StructureEnsembleModel:
    """The default shipped model: the mean of two CNN + BiLSTM structure models.

    Two models of the :func:`ss_rsa_cnnbilstm_nsp2_v1` recipe trained with seeds 0 and 1 (the
    first is that model), averaged by :class:`~bio_mtl.structure.ensemble.StructureEnsemble`:
    about 0.3-0.5 points of Q3 and Q8 above one member, at twice the prediction time. Each
    member folder also holds its verified ONNX graph (``model.onnx`` + ``model.onnx.json``), so
    ``predict-structure`` runs it on ONNX Runtime without torch
    (:mod:`bio_mtl.structure.onnx_predictor`). See ``MODEL_CARD.md`` beside the weights.
    """
    return load_model("ss_rsa_cnnbilstm_ens2_nsp2_v1")


def ss_rsa_cnnbilstm_nsp2_v1() -> StructureModel:
    """One CNN + BiLSTM model: SS8, SS3 and RSA from a single sequence (the fast choice).

    A 5-block residual dilated CNN front end and a 2-layer BiLSTM (hidden 128; 1.08 M
    parameters; the NetSurfP-2.0 network family) trained for 20 epochs on the NetSurfP-2.0
    training chains (Klausen et al. 2019, Proteins 87:520) with RSA joined from DSSP-labelled
    PDB chains; see ``MODEL_CARD.md`` beside the weights for data and scores.
    """
    return load_model("ss_rsa_cnnbilstm_nsp2_v1")


def ss_rsa_resdcnn_nsp2_v1() -> StructureModel:
    """The first shipped model (the default until ``ss_rsa_cnnbilstm_nsp2_v1``).

    A 12-block residual dilated CNN (kernel 5, 128 channels, ~1 M parameters) trained on
    the NetSurfP-2.0 training chains (Klausen et al. 2019, Proteins 87:520) with RSA joined from
    DSSP-labelled PDB chains; see ``MODEL_CARD.md`` beside the weights for data and scores.
    """
    return load_model("ss_rsa_resdcnn_nsp2_v1")


def ss_rsa_dis_dcnn96x10_kd_nsp2_v1() -> StructureModel:
    """The fast shipped model: a convolutional student distilled from a teacher ensemble.

    A 10-block residual dilated CNN (kernel 5, dilations 1-16 twice, 96 channels; 471 k
    parameters; no recurrence, so every position runs in parallel) with SS8, SS3, RSA and
    disorder heads, trained on the NetSurfP-2.0 chains with the soft targets of a teacher
    ensemble (Hinton et al. 2015; :mod:`bio_mtl.structure.distill`). Its folder also holds the
    exported ONNX graph (``model.onnx``) for the ``onnx`` backend
    (:func:`bio_mtl.structure.backends.to_backend`). See ``MODEL_CARD.md`` beside the weights.
    """
    return load_model("ss_rsa_dis_dcnn96x10_kd_nsp2_v1")


def ss_rsa_dis_ens3_nsp2_v1() -> StructureEnsembleModel:
    """The accurate shipped model: the default's two members and a CNN + Transformer.

    The mean of the two CNN + BiLSTM members of :func:`ss_rsa_cnnbilstm_ens2_nsp2_v1` and a
    4-block CNN + 4-block Transformer (rotary positions; 4.0 M parameters) trained with SS8,
    SS3, RSA and disorder heads; disorder comes from that member alone. Chosen on the
    validation split over larger teacher ensembles. See ``MODEL_CARD.md`` beside the weights.
    """
    return load_model("ss_rsa_dis_ens3_nsp2_v1")
