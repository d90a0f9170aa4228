"""Structure prediction on ONNX Runtime alone: no torch in the process.

Importing torch takes about 1.5 s and 200 MB before the first residue is predicted; for the
shipped models that is a third of a CB513-sized run. A model folder whose every checkpoint
carries a *verified* ONNX graph (:func:`~bio_mtl.structure.folders.verified_graph`: the graph
was checked against exactly these weights when it was saved, and both files still hash to the
record) is therefore run here with numpy and ONNX Runtime only. Anything else (no graphs, a
stale record, a model reading ESM features) loads through the torch estimator instead, where
:func:`~bio_mtl.structure.backends.to_backend` checks a graph against the network itself.

What it computes is what the torch path computes
(:func:`bio_mtl.structure.predict.iter_predictions` with a
:class:`~bio_mtl.structure.ensemble.StructureEnsemble` of :class:`~bio_mtl.structure.backends.
OnnxNetwork`): per member, SS8 / SS3 / disorder probabilities (softmax of the logits; SS3 summed
from SS8 where the member's ``ss3_source`` is ``"ss8"`` or it has no SS3 head) and RSA, then the
mean over the members that predict each task. Results agree with the torch reference to float32
rounding (tested against it at 1e-5).

Threads. Every ONNX Runtime session runs single-threaded, and a thread pool of ``threads``
workers runs the independent pieces of a batch at once: each member on each group of at most
:data:`MAX_TOKENS` padded residues (rows are independent). The recurrent members of the default
model parallelise poorly inside one call (their time steps are sequential); split this way they
use both cores of a 2-core machine. Each piece is computed the same way whatever the thread
count, so the output does not depend on ``threads``, bit for bit.

Examples
--------
>>> predictor = load_onnx_predictor("ss_rsa_dis_dcnn96x10_kd_nsp2_v1", threads=1)
>>> predictor.config_.tasks
('ss8', 'ss3', 'rsa', 'disorder')
>>> from bio_mtl.structure import predict_structure
>>> p = predict_structure([("p1", "MKTAYIAKQRQISFVKSHFSRQ")], predictor)[0]
>>> len(p.ss3), round(float(p.ss3_probs.sum(-1).mean()), 4)
(22, 1.0)
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import CheckpointError
from ..mtl.checkpoint import read_config
from ..resources import shipped_path
from .alphabet import SS8_TO_SS3_INDEX
from .folders import GRAPH_FILE, member_folders, verified_graph

__all__ = ["MAX_TOKENS", "OnnxGraph", "OnnxStructurePredictor", "PredictorConfig",
           "load_onnx_predictor"]

#: Padded residues per ONNX Runtime call. Small calls keep the activations in the CPU caches:
#: the fast model ran 1.3x faster in 4,096-residue calls than in 16,384-residue ones
#: (``benchmarks/structure_backends.py``); end to end on CB513 at 1 thread the default
#: ensemble took 6.2 / 6.6 / 7.7 / 9.5 s with 2,048 / 4,096 / 8,192 / 16,384 (the fast model
#: 1.9 s with 1,024 to 4,096).
MAX_TOKENS = 2048

#: SS8 -> SS3 as a (8, 3) 0/1 matrix: ``p8 @ _SS8_TO_SS3`` sums G+H+I, E+B and S+T+C.
_SS8_TO_SS3 = np.eye(3, dtype=np.float32)[SS8_TO_SS3_INDEX]


class OnnxGraph:
    """One exported structure network in an ONNX Runtime session.

    Parameters
    ----------
    graph
        The serialised ONNX model (:func:`bio_mtl.structure.backends.export_onnx`).
    task_names
        The network's tasks, in its output order.
    threads
        ONNX Runtime intra-op threads.
    max_tokens
        Padded residues per call (:data:`MAX_TOKENS`); a larger batch runs in groups of rows.
    """

    def __init__(self, graph: bytes, task_names: Sequence[str], *, threads: int = 1,
                 max_tokens: int = MAX_TOKENS) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        # no busy-waiting between ops: it burns the other runs' CPU under contention
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self.task_names, self.max_tokens = list(task_names), int(max_tokens)

    def row_groups(self, n_rows: int, width: int) -> list[slice]:
        """The row slices of an ``(n_rows, width)`` batch run in one call each."""
        rows = max(1, self.max_tokens // max(1, width))
        return [slice(i, i + rows) for i in range(0, max(1, n_rows), rows)]

    def run_rows(self, inputs: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
        """The graph's outputs (one array per task) for a batch run in one call.

        The call only sees the columns up to the rightmost real residue of these rows: a batch
        is as wide as its longest piece, and the shorter rows of a group would otherwise pay
        for its padding (43 % more positions on CB513 with 16,384-residue batches; the
        recurrent members compute every one). The outputs are padded back with zeros."""
        width = inputs.shape[1]
        real = np.flatnonzero(mask.any(axis=0))
        used = int(real[-1]) + 1 if real.size else min(1, width)
        out = self.session.run(None, {"inputs": inputs[:, :used], "mask": mask[:, :used]})
        if used == width:
            return out
        return [np.pad(o, [(0, 0), (0, width - used)] + [(0, 0)] * (o.ndim - 2)) for o in out]

    def run(self, inputs: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        """``{task: output}`` of a whole batch, run in :meth:`row_groups`."""
        parts = [self.run_rows(inputs[g], mask[g]) for g in self.row_groups(*inputs.shape[:2])]
        return {t: np.concatenate([p[k] for p in parts]) for k, t in enumerate(self.task_names)}


@dataclasses.dataclass(frozen=True)
class PredictorConfig:
    """What the prediction code reads of a model's config (see
    :class:`~bio_mtl.structure.model.StructureModelConfig`): the tasks predicted, residue-token
    input, and an SS3 output that is already final (``ss3_source="head"``)."""

    tasks: tuple[str, ...]
    input_dim: None = None
    backbone: None = None
    ss3_source: str = "head"


@dataclasses.dataclass(frozen=True)
class _Member:
    graph: OnnxGraph
    tasks: tuple[str, ...]
    derive_ss3: bool  # SS3 summed from SS8 rather than read from an SS3 head


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class OnnxStructurePredictor:
    """A saved or shipped structure model (one network or an ensemble) run on ONNX Runtime.

    A predictor, not an estimator: it cannot be fitted or saved, and it is what
    :func:`~bio_mtl.structure.predict.iter_predictions` and
    :func:`~bio_mtl.structure.predict.predict_structure` accept in place of a fitted
    :class:`~bio_mtl.structure.estimator.StructureModel`. Build it with
    :func:`load_onnx_predictor`.

    Attributes
    ----------
    config_ : PredictorConfig
        The tasks it predicts (the union of its members').
    module_ : OnnxStructurePredictor
        Itself: the object whose :meth:`probabilities` the prediction code calls.
    threads : int
        Worker threads (see the module docstring).
    source : str
        The folder or shipped name it was loaded from.
    """

    def __init__(self, members: Sequence[_Member], *, threads: int = 1, source: str = "") -> None:
        if not members:
            raise CheckpointError(f"{source}: a structure model needs at least one network")
        self.members, self.threads, self.source = list(members), max(1, int(threads)), source
        tasks = list(dict.fromkeys(t for m in members for t in m.tasks))
        if "ss8" in tasks and "ss3" not in tasks:
            tasks.append("ss3")
        self.config_ = PredictorConfig(tuple(tasks))
        self.module_ = self
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None

    def check_is_fitted(self) -> None:
        """Always fitted (the estimator contract's check, for the prediction code)."""

    def probabilities(self, inputs: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray | None]:
        """``{"ss8", "ss3", "rsa", "disorder"}`` for one padded batch of residue tokens.

        Parameters
        ----------
        inputs
            ``(N, L)`` int64 token indices (padding: :data:`~bio_mtl.structure.alphabet.
            PAD_INDEX`).
        mask
            ``(N, L)`` bool, true on real residues.

        Returns
        -------
        dict
            SS8 and SS3 probabilities ``(N, L, 8 | 3)``, RSA and the probability of disorder
            ``(N, L)``, float32; ``None`` for a task no member predicts.
        """
        groups = self.members[0].graph.row_groups(*inputs.shape[:2])
        pieces = [(m, g) for m in range(len(self.members)) for g in groups]

        def run(piece):
            m, g = piece
            return self.members[m].graph.run_rows(inputs[g], mask[g])

        done = list(self._pool.map(run, pieces) if self._pool else map(run, pieces))
        sums: dict[str, np.ndarray] = {}
        counts: dict[str, int] = {}
        for m, member in enumerate(self.members):
            parts = done[m * len(groups):(m + 1) * len(groups)]
            raw = {t: np.concatenate([p[k] for p in parts])
                   for k, t in enumerate(member.graph.task_names)}
            for task, value in _member_outputs(raw, member.derive_ss3).items():
                sums[task] = sums[task] + value if task in sums else value
                counts[task] = counts.get(task, 0) + 1
        out: dict[str, np.ndarray | None] = {t: sums[t] / counts[t] for t in sums}
        if out.get("disorder") is not None:
            out["disorder"] = out["disorder"][..., 1]
        return {t: out.get(t) for t in ("ss8", "ss3", "rsa", "disorder")}


def _member_outputs(raw: dict[str, np.ndarray], derive_ss3: bool) -> dict[str, np.ndarray]:
    """One member's SS8/SS3/disorder probabilities and RSA (as
    :func:`bio_mtl.structure.ensemble._member_outputs`)."""
    out = {}
    if "ss8" in raw:
        out["ss8"] = _softmax(raw["ss8"].astype(np.float32))
    if "ss3" in raw and not derive_ss3:
        out["ss3"] = _softmax(raw["ss3"].astype(np.float32))
    elif "ss8" in out:
        out["ss3"] = out["ss8"] @ _SS8_TO_SS3
    if "rsa" in raw:
        out["rsa"] = raw["rsa"].astype(np.float32)
    if "disorder" in raw:
        out["disorder"] = _softmax(raw["disorder"].astype(np.float32))
    return out


def load_onnx_predictor(name_or_path: str | os.PathLike, *, threads: int = 1
                        ) -> OnnxStructurePredictor | None:
    """The model as an :class:`OnnxStructurePredictor`, or ``None`` when it does not qualify.

    It qualifies when ONNX Runtime is installed, the model reads residue tokens (not ESM
    features), and every checkpoint folder of it (each member of an ensemble) holds a verified
    graph (:func:`~bio_mtl.structure.folders.verified_graph`). ``None`` means: load it with
    :func:`bio_mtl.structure.load_model` (which reports any problem with the folder).

    Parameters
    ----------
    name_or_path
        A checkpoint or ensemble folder, or a shipped model name.
    threads
        Worker threads (see the module docstring).

    Raises
    ------
    CheckpointError
        A missing folder, or a ``config.json`` that is not a structure model's; an ONNX graph
        that ONNX Runtime cannot load.
    """
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    with shipped_path(name_or_path) as folder:
        members = []
        for sub in member_folders(folder):
            model = read_config(sub, kind="structure").get("config", {}).get("model", {})
            tasks = model.get("tasks") if isinstance(model, dict) else None
            if not isinstance(tasks, list) or model.get("input_dim") is not None:
                return None
            verified = verified_graph(sub)
            if verified is None:
                return None
            try:
                graph = OnnxGraph(verified, tasks)
            except Exception as exc:  # ONNX Runtime raises its own exception types
                raise CheckpointError(f"{sub / GRAPH_FILE}: ONNX Runtime cannot load it "
                                      f"({str(exc)[:200]})") from None
            derive = "ss3" not in tasks or model.get("ss3_source", "head") == "ss8"
            members.append(_Member(graph, tuple(tasks), derive))
    return OnnxStructurePredictor(members, threads=threads, source=str(name_or_path))
