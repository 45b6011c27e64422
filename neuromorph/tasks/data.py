r"""The user's own data as a training task: tensors, a sequence or iterable of batches, or a duck-typed task.

``train(spec, data=...)`` (:func:`neuromorph.experiment.train`) takes its batches from here instead of the
card's task. :func:`batch_source` accepts

- tensors: ``(inputs, targets)`` or ``(inputs, targets, mask)`` (a tuple, or a dict with those keys), or one
  :class:`~neuromorph.types.TrialBatch`: every iteration trains on that same batch (a frozen raster replayed,
  full-batch training). ``inputs`` is ``(T, B, n_in)``, or ``(T, n_in)`` for one trial; ``targets`` is
  ``(T, B, n_out)`` (regression) or ``(T, B)`` class indices (classification), without the ``B`` axis for one
  trial; ``mask`` is ``(T, B)`` (or ``(T,)``), ones by default;
- a sequence (list, tuple) of :class:`~neuromorph.types.TrialBatch`: iteration ``i`` trains on batch
  ``i mod len``;
- any other iterable of :class:`~neuromorph.types.TrialBatch` (a generator): taken one batch per iteration;
  a finite one that runs out **cycles**: it starts again from its first batch (the batches of one pass are
  kept in memory for that), so the run trains for ``train.iterations`` whatever the iterable's length;
- an object with ``sample(batch_size, generator)`` and ``n_in``, ``n_out``, ``n_steps``, ``dt``, ``loss`` (the
  :class:`~neuromorph.tasks.base.Task` protocol) that is not registered in ``TASKS``: sampled with the
  run's generator, so its draws are checkpointed and resumed like a card task's.

Every batch is checked against the network (:func:`check_batch`: :class:`~neuromorph.errors.ShapeError`
naming the array, its shape and the expected one). The run file's card then names the task ``"data"``
(:class:`DataTask`): its shapes, the loss kind and a description of the source (a SHA-256 of the tensors),
so a run continued with other tensors is refused as a different card.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch

from neuromorph.errors import ConfigError, ShapeError
from neuromorph.tasks.base import invalid, is_int, is_real
from neuromorph.types import LossKind, TrialBatch

__all__ = ["BatchSource", "DataTask", "batch_source", "check_batch"]


@dataclass(frozen=True)
class DataTask:
    """The card's stand-in for batches given to ``train(spec, data=...)``: shapes, loss kind, source.

    A card with ``[task] name = "data"`` declares the network's input and output sizes; its batches must be
    passed as ``train(spec, data=...)``. :meth:`sample` refuses, with that fix.

    Parameters
    ----------
    n_in, n_out : int
        Input channels and readouts (classes for classification), >= 1.
    n_steps : int
        Steps per trial of the data, >= 1.
    dt : float
        Step in seconds, > 0.
    kind : str
        ``"regression"`` (MSE on float targets) or ``"classification"`` (cross-entropy on class indices).
    source : str
        What the data were (written by :func:`batch_source`; e.g. ``"tensors sha256:..."``).
    """

    n_in: int = 1
    n_out: int = 1
    n_steps: int = 1
    dt: float = 1e-3
    kind: str = "regression"
    source: str = ""

    def __post_init__(self) -> None:
        for name in ("n_in", "n_out", "n_steps"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise invalid("DataTask", name, value, "expected an int >= 1")
        if not is_real(self.dt) or self.dt <= 0:
            raise invalid("DataTask", "dt", self.dt, "expected a finite float > 0 (seconds)")
        if self.kind not in ("regression", "classification"):
            raise invalid("DataTask", "kind", self.kind, "expected 'regression' or 'classification'")

    @property
    def loss(self) -> LossKind:
        return LossKind(self.kind)

    def sample(self, batch_size: int, generator: torch.Generator) -> TrialBatch:
        raise ConfigError(f"task 'data' ({self.source or 'the user data'}) has no batches of its own: pass them as "
                          "train(spec, data=...) (the same data to continue the run)")


def check_batch(batch: TrialBatch, n_in: int, n_out: int, kind: LossKind, where: str = "data") -> None:
    """``batch`` fits a network of ``n_in`` inputs and ``n_out`` readouts under loss ``kind``; else ShapeError."""
    if not isinstance(batch, TrialBatch):
        raise ShapeError(f"{where}: expected a TrialBatch, got {type(batch).__name__}")
    x, y, m = batch.inputs, batch.targets, batch.mask
    if not all(torch.is_tensor(a) for a in (x, y, m)):
        raise ShapeError(f"{where}: inputs, targets and mask must be torch tensors")
    if x.dim() != 3 or x.shape[2] != n_in or x.shape[0] < 1 or x.shape[1] < 1:
        raise ShapeError(f"{where}: inputs have shape {tuple(x.shape)}, expected (T, B, n_in={n_in})")
    steps, trials = x.shape[:2]
    if kind is LossKind.REGRESSION:
        if tuple(y.shape) != (steps, trials, n_out) or not y.is_floating_point():
            raise ShapeError(f"{where}: targets have shape {tuple(y.shape)} ({y.dtype}), expected float "
                             f"(T={steps}, B={trials}, n_out={n_out}) for regression")
    else:
        if tuple(y.shape) != (steps, trials) or y.is_floating_point() or y.dtype == torch.bool:
            raise ShapeError(f"{where}: targets have shape {tuple(y.shape)} ({y.dtype}), expected integer class "
                             f"indices (T={steps}, B={trials}) for classification")
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= n_out):
            raise ShapeError(f"{where}: class indices must be in [0, {n_out}), got [{int(y.min())}, {int(y.max())}]")
    if tuple(m.shape) != (steps, trials):
        raise ShapeError(f"{where}: mask has shape {tuple(m.shape)}, expected (T={steps}, B={trials})")


def _tensor(value, name: str) -> torch.Tensor:
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ShapeError(f"data: {name} is not an array ({exc})") from None


def _from_tensors(inputs, targets, mask, kind: LossKind) -> TrialBatch:
    """One batch from tensors; a ``(T, n_in)`` raster is one trial."""
    x, y = _tensor(inputs, "inputs"), _tensor(targets, "targets")
    single = x.dim() == 2
    if single:
        x = x[:, None, :]
        y = y[:, None] if (kind is LossKind.CLASSIFICATION or y.dim() == 2) else y
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    if mask is None:
        m = torch.ones(x.shape[:2], dtype=x.dtype) if x.dim() == 3 else torch.ones(0)
    else:
        m = _tensor(mask, "mask")
        m = (m[:, None] if single and m.dim() == 1 else m).to(x.dtype)
    return TrialBatch(x, y, m)


def _digest(batches: Sequence[TrialBatch]) -> str:
    h = hashlib.sha256()
    for b in batches:
        for a in (b.inputs, b.targets, b.mask):
            t = a.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


class BatchSource:
    """Batches for iteration ``i`` (:meth:`batch`), drawn from the user's data (module docstring)."""

    def __init__(self, network, kind: LossKind, *, fixed: TrialBatch | None = None,
                 batches: Sequence[TrialBatch] | None = None, iterable: Iterable | None = None, task=None,
                 source: str = ""):
        self.n_in, self.n_out, self.kind = network.n_in, network.n_out, kind
        self.fixed, self.batches, self.task, self.source = fixed, batches, task, source
        self._iterator: Iterator | None = iter(iterable) if iterable is not None else None
        self._seen: list[TrialBatch] = []  # one pass of a one-shot iterable, to cycle
        self._exhausted = False
        first = self.batch(0, 1, None, peek=True) if task is None else None
        self.n_steps = int(task.n_steps) if task is not None else first.n_steps

    def batch(self, iteration: int, batch_size: int, generator: torch.Generator | None,
              peek: bool = False) -> TrialBatch:
        """The batch of (0-based) ``iteration``; a duck-typed task is sampled with ``generator``."""
        if self.task is not None:
            found = self.task.sample(batch_size, generator)
        elif self.fixed is not None:
            found = self.fixed
        elif self.batches is not None:
            found = self.batches[iteration % len(self.batches)]
        else:
            found = self._nth(iteration)
        check_batch(found, self.n_in, self.n_out, self.kind, f"data (batch of iteration {iteration})")
        return found

    def _nth(self, iteration: int) -> TrialBatch:
        while not self._exhausted and len(self._seen) <= iteration:
            try:
                self._seen.append(next(self._iterator))
            except StopIteration:
                self._exhausted = True
        if not self._seen:
            raise ConfigError("data: the iterable of TrialBatch is empty; give at least one batch")
        return self._seen[iteration % len(self._seen)] if self._exhausted else self._seen[iteration]

    def describe(self, spec_task) -> DataTask:
        """The card's task for this data (shapes, loss kind, source)."""
        return DataTask(n_in=self.n_in, n_out=self.n_out, n_steps=self.n_steps, dt=float(spec_task.dt),
                        kind=self.kind.value, source=self.source)


def batch_source(data, network, kind: LossKind) -> BatchSource:
    """A :class:`BatchSource` for ``data`` (module docstring) on ``network`` under loss ``kind``.

    Raises
    ------
    ShapeError
        An array does not fit the network (names it, its shape and the expected one).
    ConfigError
        ``data`` is none of the accepted forms, or an empty iterable.
    """
    if isinstance(data, TrialBatch):
        return BatchSource(network, kind, fixed=data, source=f"one TrialBatch sha256:{_digest([data])}")
    if isinstance(data, dict):
        unknown = set(data) - {"inputs", "targets", "mask"}
        if unknown or not {"inputs", "targets"} <= set(data):
            raise ConfigError(f"data as a dict needs keys 'inputs', 'targets' (and optionally 'mask'), got "
                              f"{sorted(data)}")
        data = (data["inputs"], data["targets"], data.get("mask"))
    if isinstance(data, tuple) and 2 <= len(data) <= 3 and not any(isinstance(d, TrialBatch) for d in data):
        fixed = _from_tensors(data[0], data[1], data[2] if len(data) == 3 else None, kind)
        return BatchSource(network, kind, fixed=fixed, source=f"tensors sha256:{_digest([fixed])}")
    if hasattr(data, "sample") and callable(data.sample):
        for name in ("n_in", "n_out", "n_steps", "dt", "loss"):
            if not hasattr(data, name) or (name == "loss" and not isinstance(data.loss, LossKind)):
                raise ConfigError(f"data: a task object needs the attribute {name!r} (the Task protocol: n_in, n_out, "
                                  "n_steps, dt, loss = a neuromorph.types.LossKind)")
        if (data.n_in, data.n_out) != (network.n_in, network.n_out):
            raise ShapeError(f"data: task {type(data).__name__} has n_in={data.n_in}, n_out={data.n_out}; the network "
                             f"has n_in={network.n_in}, n_out={network.n_out}")
        return BatchSource(network, kind, task=data, source=f"task {type(data).__module__}.{type(data).__qualname__}")
    if isinstance(data, (list, tuple)):
        if not data:
            raise ConfigError("data: the sequence of TrialBatch is empty; give at least one batch")
        return BatchSource(network, kind, batches=list(data),
                           source=f"{len(data)} TrialBatch sha256:{_digest(list(data))}")
    if isinstance(data, Iterable) and not torch.is_tensor(data):
        return BatchSource(network, kind, iterable=data, source="an iterable of TrialBatch")
    raise ConfigError(f"data must be (inputs, targets[, mask]) tensors, a TrialBatch, a sequence or iterable of "
                      f"TrialBatch, or a task object; got {type(data).__name__}")
