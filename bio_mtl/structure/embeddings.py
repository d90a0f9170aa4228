"""Optional ESM-2 per-residue features through fair-esm (Lin et al. 2023, Science 379:1123).

Two ways in, kept apart so tests never touch the network:

* a **name** (``esm2_t6_8M_UR50D``) goes through ``esm.pretrained``, i.e. torch.hub. The files
  ``<name>.pt`` and ``<name>-contact-regression.pt`` are looked up in
  ``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch/hub/checkpoints``) and downloaded
  only when missing, so once cached (or copied there by hand) a name works offline;
* a **path** to a local ``.pt`` file in fair-esm's checkpoint layout (``{"cfg": {"model": ...},
  "model": state_dict}``) is read with ``torch.load(weights_only=True)``, so it cannot run code.

An :class:`ESMEmbedder` wraps a loaded model (or one built in memory) and returns one ``(L, D)``
array per sequence from a chosen layer, optionally cached on disk as safetensors keyed by a hash
of model name, architecture, layer and sequence.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._io import atomic_write
from ..errors import CheckpointError, ConfigError

__all__ = ["ESMEmbedder", "embedder_for", "load_esm"]

logger = logging.getLogger(__name__)

_ESM_PREFIX = re.compile(r"^(encoder\.sentence_encoder\.|encoder\.)")


def _load_local(path: Path):
    import argparse

    import esm
    import torch

    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            data = torch.load(str(path), map_location="cpu", weights_only=True)
        cfg = data["cfg"]["model"]
        get = (lambda k: cfg[k]) if isinstance(cfg, dict) else (lambda k: getattr(cfg, k))
        model = esm.model.esm2.ESM2(num_layers=get("encoder_layers"),
                                    embed_dim=get("encoder_embed_dim"),
                                    attention_heads=get("encoder_attention_heads"),
                                    alphabet=esm.data.Alphabet.from_architecture("ESM-1b"),
                                    token_dropout=get("token_dropout"))
        state = {_ESM_PREFIX.sub("", k): v for k, v in data["model"].items()}
    except Exception as exc:  # unpickling / layout errors of a foreign file
        raise CheckpointError(f"{path}: not a loadable fair-esm ESM-2 checkpoint ({exc})"
                              ) from None
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("contact_head.regression")]
    if missing or unexpected:
        raise CheckpointError(f"{path}: ESM-2 weights do not match (missing: {missing[:5]}, "
                              f"unexpected: {unexpected[:5]})")
    return model, model.alphabet


def load_esm(name_or_path: str | os.PathLike):
    """Load an ESM-2 model and its alphabet.

    Parameters
    ----------
    name_or_path
        A fair-esm model name (read from the torch.hub cache, ``$TORCH_HOME/hub/checkpoints``,
        and downloaded there only if missing) or a local checkpoint file in fair-esm's layout.

    Returns
    -------
    (model, alphabet)
        The model in eval mode.

    Raises
    ------
    CheckpointError
        Unknown name, failed download or unreadable file.
    """
    path = Path(name_or_path)
    if path.is_file():
        model, alphabet = _load_local(path)
    else:
        import esm

        name = str(name_or_path)
        if not name.startswith("esm") or not hasattr(esm.pretrained, name):
            raise CheckpointError(f"{name}: no such file and not a fair-esm model name (e.g. "
                                  "esm2_t6_8M_UR50D)")
        import torch

        cache = Path(torch.hub.get_dir()) / "checkpoints"
        captured = io.StringIO()
        try:
            # torch.hub announces downloads on stdout, which would corrupt our stdout output
            with contextlib.redirect_stdout(captured):
                model, alphabet = getattr(esm.pretrained, name)()
        except Exception as exc:  # network or cache errors from torch.hub
            reason = " ".join(str(exc).split())[:200]
            raise CheckpointError(
                f"{name}: could not load ESM weights ({reason}); offline, put {name}.pt and "
                f"{name}-contact-regression.pt in {cache} (TORCH_HOME) or pass a local .pt "
                "file") from None
        finally:
            if captured.getvalue().strip():
                logger.info("%s", captured.getvalue().strip())
    model.eval()
    return model, alphabet


class ESMEmbedder:
    """Per-residue ESM representations as a callable ``seqs -> [array (L, D)]``.

    Parameters
    ----------
    model, alphabet
        An ``esm.model.esm2.ESM2`` (from :func:`load_esm` or built in memory) and its alphabet.
    layer
        Representation layer (default: the last).
    name
        Model name used in cache keys (with the layer count, width and ``layer``, so two
        differently shaped models never share entries; give distinct names to distinct
        weights of one shape).
    cache_dir
        Optional folder of ``<sha256>.safetensors`` files, one per (model, layer, sequence).
        Entries are written atomically; an unreadable or wrongly shaped entry is recomputed.
    batch_size
        Sequences per forward pass.
    """

    def __init__(self, model, alphabet, *, layer: int | None = None, name: str = "esm",
                 cache_dir: str | os.PathLike | None = None, batch_size: int = 8) -> None:
        self.model = model.eval()
        self.alphabet = alphabet
        self.layer = model.num_layers if layer is None else int(layer)
        self.name = name
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.batch_size = batch_size
        #: What :meth:`from_pretrained` loaded (a name or path); recorded in trained models.
        self.source: str | None = None
        self._convert = alphabet.get_batch_converter()

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, **kwargs) -> ESMEmbedder:
        """Load with :func:`load_esm` and wrap.

        ``source`` (recorded in models trained on these features) is the fair-esm name, or the
        absolute path of a local file, so the model finds its backbone from any directory.
        """
        model, alphabet = load_esm(name_or_path)
        kwargs.setdefault("name", Path(str(name_or_path)).stem)
        embedder = cls(model, alphabet, **kwargs)
        path = Path(name_or_path)
        embedder.source = str(path.resolve()) if path.is_file() else str(name_or_path)
        return embedder

    @property
    def dim(self) -> int:
        """Feature width ``D``."""
        return int(self.model.embed_dim)

    def _key(self, seq: str) -> str:
        model = f"{self.name}:t{self.model.num_layers}:d{self.dim}:layer{self.layer}"
        return hashlib.sha256(f"{model}:{seq}".encode()).hexdigest()

    def _cached(self, seq: str) -> np.ndarray | None:
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        path = self.cache_dir / f"{self._key(seq)}.safetensors"
        if not path.is_file():
            return None
        try:
            arr = load_file(str(path))["repr"]
        except (SafetensorError, KeyError, OSError):
            arr = None
        if arr is None or arr.shape != (len(seq), self.dim):
            logger.warning("%s: unreadable or mis-shaped ESM cache entry; recomputing", path)
            return None
        return arr

    def _store(self, seq: str, arr: np.ndarray) -> None:
        from safetensors.numpy import save

        data = save({"repr": arr})
        with atomic_write(self.cache_dir / f"{self._key(seq)}.safetensors", "wb") as handle:
            handle.write(data)

    def _embed(self, seqs: Sequence[str]) -> list[np.ndarray]:
        import torch

        _, _, tokens = self._convert([(str(i), s) for i, s in enumerate(seqs)])
        with torch.inference_mode():
            out = self.model(tokens, repr_layers=[self.layer])["representations"][self.layer]
        start = int(self.alphabet.prepend_bos)
        return [out[i, start:start + len(s)].float().numpy().copy() for i, s in enumerate(seqs)]

    def __call__(self, seqs: Sequence[str]) -> list[np.ndarray]:
        """Embed ``seqs``; returns one ``(len(seq), dim)`` float32 array each."""
        out: list[np.ndarray | None] = [None] * len(seqs)
        if self.cache_dir is not None:
            out = [self._cached(s) for s in seqs]
        todo = [i for i, arr in enumerate(out) if arr is None]
        for b in range(0, len(todo), self.batch_size):
            idx = todo[b:b + self.batch_size]
            for i, arr in zip(idx, self._embed([seqs[i] for i in idx]), strict=True):
                out[i] = arr
                if self.cache_dir is not None:
                    self._store(seqs[i], arr)
        return out  # type: ignore[return-value]


def embedder_for(model, backbone: str | os.PathLike | None = None, *,
                 cache_dir: str | os.PathLike | None = None) -> ESMEmbedder | None:
    """The ESM-2 embedder a structure model needs (``None`` for residue-token models).

    Parameters
    ----------
    model
        A fitted :class:`~bio_mtl.structure.estimator.StructureModel` or ensemble.
    backbone
        ESM-2 name or local ``.pt`` file; default: the backbone the model recorded.
    cache_dir
        Optional on-disk embedding cache (see :class:`ESMEmbedder`).

    Raises
    ------
    ConfigError
        A feature model with no backbone given or recorded, or a backbone for a model that
        reads residues directly.

    Examples
    --------
    >>> from bio_mtl.structure import load_model
    >>> embedder_for(load_model("ss_rsa_resdcnn_nsp2_v1")) is None
    True
    """
    config = model.config_
    if config.input_dim is None:
        if backbone is not None:
            raise ConfigError("--backbone needs a model trained on ESM features; the chosen "
                              "model reads residues directly (drop --backbone)")
        return None
    name = backbone or config.backbone
    if name is None:
        raise ConfigError("this model takes ESM features; pass --backbone NAME|PATH")
    return ESMEmbedder.from_pretrained(name, cache_dir=cache_dir)
