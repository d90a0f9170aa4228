"""Inference backends for structure networks: the PyTorch reference and ONNX Runtime.

:func:`to_backend` turns a fitted structure model (or its network) into a network with the same
call, ``network(inputs, mask=mask) -> {task: tensor}``, whose forward pass runs on the chosen
backend; :data:`BACKENDS` is the one registry (``"torch"``, ``"onnx"``), with ``"auto"`` for the
fastest one installed.

Why ONNX Runtime. The distilled convolutional students spend most of their time in dilated
``Conv1d``, LayerNorm, GELU and the padding-mask multiplies; ONNX Runtime's CPU provider fuses
the element-wise ops and runs the convolutions through MLAS. Measured on the shared 2-core
machine, model only, 1 thread (``benchmarks/structure_backends.py``): about 1.3-1.7x the
PyTorch eager speed of the same network, with logits equal to 5e-6 (:data:`TOLERANCE`).
Ensembles run one ONNX graph per member and average them in torch with the same code as the
reference (:class:`~bio_mtl.structure.ensemble.StructureEnsemble`).

PyTorch stays the reference: an ONNX graph is exported from the network
(:func:`export_onnx`, the TorchScript exporter with dynamic batch and length axes), or read from
a ``model.onnx`` beside the checkpoint's weights; either way it is checked against the torch
network on a padded probe batch when it is loaded here, and a graph that disagrees by more than
:data:`TOLERANCE` raises :class:`~bio_mtl.errors.CheckpointError`. Nothing is pickled.
:func:`save_onnx_graphs` writes a model's graphs with the record of that check
(``model.onnx.json``, :mod:`bio_mtl.structure.folders`); a model whose graphs all carry a valid
record runs in :mod:`bio_mtl.structure.onnx_predictor` without torch (what
``predict-structure --backend auto`` does for the shipped models).

Examples
--------
>>> import torch
>>> from bio_mtl.structure import StructureModelConfig, build_structure_model
>>> cfg = StructureModelConfig(conv_channels=8, conv_layers=2, lstm_layers=0)
>>> net = build_structure_model(cfg).eval()
>>> fast = to_backend(net, "onnx", threads=1)
>>> tokens = torch.tensor([[0, 5, 9, 3], [7, 2, 21, 21]])
>>> with torch.inference_mode():
...     ref, out = net(tokens, mask=tokens != 21), fast(tokens, mask=tokens != 21)
>>> bool((ref["ss8"] - out["ss8"]).abs().max() < TOLERANCE)
True
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from .._io import atomic_write
from ..errors import CheckpointError, ConfigError
from ..resources import shipped_path
from .alphabet import PAD_INDEX
from .ensemble import StructureEnsemble
from .folders import GRAPH_FILE, member_folders, save_graph
from .onnx_predictor import MAX_TOKENS, OnnxGraph

__all__ = ["BACKENDS", "MAX_TOKENS", "ONNX_FILE", "TOLERANCE", "OnnxNetwork", "export_onnx",
           "max_difference", "resolve_backend", "save_onnx_graphs", "to_backend"]

log = logging.getLogger(__name__)

#: Backend name -> what runs the forward pass (the registry; ``"auto"`` picks ``onnx`` for a
#: model folder that carries its ``model.onnx`` graphs, else ``torch``).
BACKENDS = {
    "torch": "PyTorch eager, float32 (the reference)",
    "onnx": "ONNX Runtime CPU execution provider, float32 (pip install onnxruntime)",
}

#: Largest absolute difference allowed between a backend's outputs (logits, RSA) and the torch
#: network's on the load-time probe (measured: <= 5e-6 for every shipped network).
TOLERANCE = 1e-4

#: File name of an exported graph beside a checkpoint's ``model.safetensors``.
ONNX_FILE = GRAPH_FILE

_OPSET = 17
_EXPORT_NOISE = (".*legacy TorchScript-based ONNX export.*", "The feature will be removed.*",
                 "Exporting a model to ONNX with a batch_size other than 1.*")


def _onnxruntime_installed() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def resolve_backend(name: str = "auto", *, has_graphs: bool = False) -> str:
    """The backend ``name`` stands for.

    ``"auto"`` is ``"onnx"`` when ONNX Runtime is installed and the model carries its exported
    graphs (``has_graphs``: no export at start-up), else ``"torch"``.

    Raises
    ------
    ConfigError
        An unknown name (listing the choices), or ``"onnx"`` without ONNX Runtime installed.

    Examples
    --------
    >>> resolve_backend("torch"), resolve_backend("auto")
    ('torch', 'torch')
    """
    if name == "auto":
        return "onnx" if has_graphs and _onnxruntime_installed() else "torch"
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; choose from auto, {', '.join(BACKENDS)}")
    if name == "onnx" and not _onnxruntime_installed():
        raise ConfigError("the onnx backend needs ONNX Runtime: pip install onnxruntime "
                          "(or use --backend torch)")
    return name


class _TupleOutputs(nn.Module):
    """The network's outputs as a tuple in a fixed task order (what the exporter traces)."""

    def __init__(self, network: nn.Module, tasks: list[str]) -> None:
        super().__init__()
        self.network, self.tasks = network, tasks

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.network(inputs, mask=mask)
        return tuple(out[t] for t in self.tasks)


def _input_dim(network: nn.Module) -> int | None:
    """Width of the per-residue features a network reads (``None``: residue tokens)."""
    config = getattr(getattr(network, "encoder", None), "config", None)
    return getattr(config, "input_dim", None)


def _probe(input_dim: int | None, n: int = 2, length: int = 48
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed padded batch: row 0 full, row 1 two thirds real residues."""
    g = torch.Generator().manual_seed(13)
    mask = torch.ones(n, length, dtype=torch.bool)
    mask[1:, 2 * length // 3:] = False
    if input_dim is None:
        inputs = torch.randint(0, 20, (n, length), generator=g)
        return inputs.masked_fill(~mask, PAD_INDEX), mask
    return torch.randn(n, length, input_dim, generator=g) * mask.unsqueeze(-1), mask


def export_onnx(network: nn.Module, path: str | os.PathLike | None = None) -> bytes:
    """Export one structure network (not an ensemble) to an ONNX graph.

    Inputs ``inputs`` (``(N, L)`` int64 tokens, or ``(N, L, F)`` float32 features) and ``mask``
    (``(N, L)`` bool), outputs one per task named after it, with dynamic ``N`` and ``L``
    (opset 17, the TorchScript exporter). The network is exported in evaluation mode and left
    in it: ``torch.onnx.export`` restores the *wrapper's* previous mode afterwards, and a freshly
    built wrapper is in training mode, which would switch the network's dropout on (an earlier
    speed probe compared ONNX against a torch network left in training mode that way and saw
    logits differ by ~2).

    Parameters
    ----------
    network
        A :func:`~bio_mtl.structure.model.build_structure_model` network.
    path
        Also write the graph here.

    Returns
    -------
    bytes
        The serialised ONNX model.
    """
    if isinstance(network, StructureEnsemble):
        raise ConfigError("export the members of an ensemble one by one (member_<k>/model.onnx)")
    tasks = list(network.task_names)
    wrapper = _TupleOutputs(network, tasks).eval()
    inputs, mask = _probe(_input_dim(network))
    axes = {"inputs": {0: "batch", 1: "length"}, "mask": {0: "batch", 1: "length"},
            **{t: {0: "batch", 1: "length"} for t in tasks}}
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            # the TorchScript exporter's deprecation notes, and tracer notes about Python values
            # that are constant for these networks (the tests run other batch sizes and lengths)
            for message in _EXPORT_NOISE:
                warnings.filterwarnings("ignore", message=message)
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            torch.onnx.export(wrapper, (inputs, mask), buffer, opset_version=_OPSET,
                              dynamo=False, input_names=["inputs", "mask"], output_names=tasks,
                              dynamic_axes=axes)
    finally:
        network.eval()
    graph = buffer.getvalue()
    if path is not None:
        with atomic_write(path, "wb") as handle:
            handle.write(graph)
    return graph


class OnnxNetwork(nn.Module):
    """A structure network whose forward pass runs in an ONNX Runtime session.

    Called like the torch network: ``network(inputs, mask=mask)`` returns ``{task: tensor}``
    (logits for the classification tasks, values for RSA). No parameters of its own.

    Parameters
    ----------
    graph
        A serialised ONNX model from :func:`export_onnx`.
    task_names
        The network's tasks, in its output order.
    input_dim
        ``None`` for residue tokens, else the feature width.
    threads
        ONNX Runtime intra-op threads (``None``: ``torch.get_num_threads()``).
    max_tokens
        Padded residues per ONNX Runtime call: a larger batch is run in groups of rows (rows are
        independent, so the result is the same). Small calls keep the activations in the CPU
        caches: the fast model ran 1.3x faster in 4,096-residue calls than in 16,384-residue
        ones (:data:`MAX_TOKENS`, measured with ``benchmarks/structure_backends.py``).
    """

    def __init__(self, graph: bytes, task_names, *, input_dim: int | None = None,
                 threads: int | None = None, max_tokens: int | None = None) -> None:
        super().__init__()
        self.graph = OnnxGraph(graph, task_names, threads=int(threads or torch.get_num_threads()),
                               max_tokens=MAX_TOKENS if max_tokens is None else max_tokens)
        self.task_names, self.input_dim = list(task_names), input_dim

    @property
    def session(self):
        """The ONNX Runtime session."""
        return self.graph.session

    @property
    def max_tokens(self) -> int:
        """Padded residues per ONNX Runtime call."""
        return self.graph.max_tokens

    @max_tokens.setter
    def max_tokens(self, value: int) -> None:
        self.graph.max_tokens = int(value)

    @classmethod
    def from_network(cls, network: nn.Module, *, threads: int | None = None,
                     onnx_file: str | os.PathLike | None = None) -> OnnxNetwork:
        """Run ``network`` on ONNX Runtime: read ``onnx_file`` if given, else export it; then
        check the graph against ``network`` on a padded probe batch.

        Raises
        ------
        CheckpointError
            ``onnx_file`` is unreadable or disagrees with ``network`` by more than
            :data:`TOLERANCE` (e.g. a stale export).
        """
        if onnx_file is None:
            graph = export_onnx(network)
        else:
            try:
                graph = Path(onnx_file).read_bytes()
            except OSError as exc:
                raise CheckpointError(f"{onnx_file}: cannot read the ONNX graph "
                                      f"({exc.strerror})") from None
        try:
            onnx = cls(graph, network.task_names, input_dim=_input_dim(network), threads=threads)
        except Exception as exc:  # ONNX Runtime raises its own exception types
            raise CheckpointError(f"{onnx_file or 'exported graph'}: ONNX Runtime cannot load "
                                  f"it ({str(exc)[:200]})") from None
        worst = max_difference(network, onnx)
        if not worst <= TOLERANCE:
            raise CheckpointError(f"{onnx_file or 'exported graph'}: its outputs differ from the "
                                  f"torch network by {worst:.2g} (> {TOLERANCE:g}); re-export it "
                                  "with bio_mtl.structure.backends.export_onnx")
        return onnx

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
        """``(N, L)`` tokens or ``(N, L, F)`` features -> ``{task: (N, L[, C]) tensor}``."""
        if mask is None:
            mask = inputs != PAD_INDEX if self.input_dim is None else \
                torch.ones(inputs.shape[:2], dtype=torch.bool)
        inputs = inputs.long() if self.input_dim is None else inputs.float()
        out = self.graph.run(inputs.cpu().numpy(), mask.bool().cpu().numpy())
        return {t: torch.from_numpy(v) for t, v in out.items()}


def max_difference(reference: nn.Module, other: nn.Module) -> float:
    """Largest absolute difference of two networks' outputs on the padded probe batch (real
    residues only), over every task of ``reference``."""
    inputs, mask = _probe(_input_dim(reference))
    reference.eval()
    with torch.inference_mode():
        ref, out = reference(inputs, mask=mask), other(inputs, mask=mask)
    return max(float((ref[t] - out[t])[mask].abs().max()) for t in reference.task_names)


def to_backend(model, backend: str = "auto", *, threads: int | None = None,
               source: str | os.PathLike | None = None) -> nn.Module:
    """The network of ``model`` with its forward pass on ``backend``.

    Parameters
    ----------
    model
        A fitted :class:`~bio_mtl.structure.estimator.StructureModel` or
        :class:`~bio_mtl.structure.estimator.StructureEnsembleModel`, or a network
        (:func:`~bio_mtl.structure.model.build_structure_model`,
        :class:`~bio_mtl.structure.ensemble.StructureEnsemble`).
    backend
        A key of :data:`BACKENDS`, or ``"auto"``: ONNX Runtime when it is installed and
        ``source`` holds the exported graphs, else torch (see :func:`resolve_backend`).
    threads
        Intra-op threads of the ONNX Runtime sessions (``None``: ``torch.get_num_threads()``);
        the torch backend uses the process's torch threads.
    source
        The checkpoint folder or shipped name ``model`` was loaded from: its ``model.onnx``
        (each member folder's for an ensemble) is used instead of exporting the graph again,
        after the same agreement check.

    Returns
    -------
    torch.nn.Module
        Called as ``network(inputs, mask=mask) -> {task: tensor}``, like the torch network, in
        evaluation mode; has ``task_names``.

    Raises
    ------
    ConfigError
        Unknown backend, or ONNX Runtime not installed.
    CheckpointError
        A graph that disagrees with the torch network (see :meth:`OnnxNetwork.from_network`).
    """
    network = getattr(model, "module_", model)
    if network is None or not isinstance(network, nn.Module):
        raise ConfigError("to_backend needs a fitted structure model or a structure network")
    network.eval()
    with contextlib.ExitStack() as stack:
        folder = None if source is None else Path(stack.enter_context(shipped_path(source)))
        graphs = _graph_files(network, folder)
        if resolve_backend(backend, has_graphs=None not in graphs) == "torch":
            return network
        if isinstance(network, StructureEnsemble):
            members = [OnnxNetwork.from_network(m, threads=threads, onnx_file=g)
                       for m, g in zip(network.members, graphs, strict=True)]
            return StructureEnsemble(members, network.ss3_sources).eval()
        return OnnxNetwork.from_network(network, threads=threads, onnx_file=graphs[0])


def _graph_files(network: nn.Module, folder: Path | None) -> list[Path | None]:
    """The ``model.onnx`` of the network (or of each ensemble member, in the member folders
    its ``config.json`` lists, :func:`~bio_mtl.structure.folders.member_folders`) in
    ``folder``, ``None`` where absent."""
    n = len(network.members) if isinstance(network, StructureEnsemble) else 1
    if folder is None:
        return [None] * n
    paths = [sub / ONNX_FILE for sub in member_folders(folder)]
    return [p if p.is_file() else None for p in paths]


def save_onnx_graphs(source: str | os.PathLike) -> list[Path]:
    """Export, check and record the ONNX graph of every network of a saved structure model.

    For each checkpoint folder of ``source`` (the folder itself, or each member folder an
    ensemble's ``config.json`` lists): export the network (:func:`export_onnx`), compare it with the torch network on
    the probe batch (:func:`max_difference`), and write ``model.onnx`` plus its record
    ``model.onnx.json`` (:func:`bio_mtl.structure.folders.save_graph`). A recorded
    graph is what ``predict-structure --backend auto`` runs without torch
    (:mod:`bio_mtl.structure.onnx_predictor`).

    Parameters
    ----------
    source
        A structure checkpoint or ensemble folder (written to).

    Returns
    -------
    list of Path
        The graphs written.

    Raises
    ------
    CheckpointError
        Not a structure model folder, or a graph that disagrees with its network by more than
        :data:`TOLERANCE` (nothing is recorded for it).
    """
    from .estimator import load_structure

    written = []
    for folder in member_folders(source):
        network = load_structure(folder).module_.eval()
        graph = export_onnx(network)
        worst = max_difference(network, OnnxNetwork(graph, network.task_names,
                                                    input_dim=_input_dim(network), threads=1))
        save_graph(folder, graph, max_difference=worst, tolerance=TOLERANCE)
        written.append(folder / GRAPH_FILE)
    return written
