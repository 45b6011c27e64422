r"""Reusing a trained run: :func:`load_run` reads a run file back, :func:`simulate` runs its network on new input.

::

    import neuromorph, torch
    run = neuromorph.load_run("runs/sine.h5")          # spec, params, feedback, optimiser state, curves
    rec = neuromorph.simulate(run, torch.zeros(1000, 1, run.spec.network.n_in))
    rec.spikes, rec.membrane, rec.readout              # (T, B, n_rec), (T, B, n_rec), (T, B, n_out)

:func:`load_run` reuses the storage layer's checks (:func:`neuromorph.storage.read_run`,
:mod:`neuromorph.storage.checkpoint`): a missing, corrupt (not HDF5, truncated, a checkpoint that does not
unpickle) or foreign file (HDF5 without ``format = "neuromorph-run"``), a ``/config`` that is not a card of
this neuromorph and parameters of the wrong shape are each a :class:`~neuromorph.errors.StorageError` that names
the file and what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from neuromorph.backends.base import Lowered, NetworkState, lower
from neuromorph.backends.torch import simulate as torch_simulate
from neuromorph.config import RunSpec, resolve
from neuromorph.errors import ConfigError, ShapeError, StorageError
from neuromorph.network import Parameters, complete
from neuromorph.storage import read_run
from neuromorph.storage.checkpoint import check_params, load_checkpoint, stored_card

__all__ = ["LoadedRun", "Simulation", "load_run", "simulate"]


@dataclass
class LoadedRun:
    r"""A run file read back (:func:`load_run`).

    Attributes
    ----------
    path : Path
        The file.
    spec : RunSpec
        The stored (resolved) model card, parsed.
    card : dict
        The same card as a nested dict (TOML tables).
    params : Parameters
        The final parameters (post x pre), in the run's precision.
    feedback : Tensor
        Shape ``(n_rec, n_out)``:
        The feedback matrix :math:`B` of the learning signal :math:`L_j = \sum_k B_{jk} (y_k - y^*_k)`.
    optimizer_state : dict or None
        The learner's state of the checkpoint: ``{"optimizer": torch.optim state_dict (Adam's moments
        ``exp_avg``, ``exp_avg_sq`` and ``step`` per parameter), "updates": int}``; None without a checkpoint.
    checkpoint : dict or None
        The whole checkpoint (also the run's generator state, the chip's rounding generator and grids).
    curves : dict of str to ndarray
        Per-iteration curves (``loss``, ``rate_hz``, ...), all iterations of a continued run.
    status, iteration, attrs, versions
        As stored (:class:`~neuromorph.storage.RunRecord`).
    last : dict of str to ndarray
        The latest recorded iteration (inputs, spikes, output, target, mask).
    recorded : dict of int to dict
        Every recorded iteration (``train.record_every``), by the number of iterations done.
    """

    path: Path
    spec: RunSpec
    card: dict
    params: Parameters
    feedback: torch.Tensor
    optimizer_state: dict | None
    checkpoint: dict | None
    curves: dict[str, np.ndarray]
    status: str
    iteration: int
    attrs: dict
    versions: dict[str, str]
    last: dict[str, np.ndarray] = field(default_factory=dict)
    recorded: dict[int, dict] = field(default_factory=dict)


@dataclass
class Simulation:
    """A recording of :func:`simulate`, time-major.

    Attributes
    ----------
    spikes : Tensor
        Shape ``(T, B, n_rec)``:
        :math:`z_j(t)` (0/1; the rates of rate units).
    membrane : Tensor
        Shape ``(T, B, n_rec)``:
        :math:`v_j(t)` before the reset (the pre-activation of rate units).
    readout : Tensor
        Shape ``(T, B, n_out)``:
        :math:`y_k(t)`.
    """

    spikes: torch.Tensor
    membrane: torch.Tensor
    readout: torch.Tensor

    @property
    def z(self) -> torch.Tensor:
        return self.spikes

    @property
    def v(self) -> torch.Tensor:
        return self.membrane

    @property
    def y(self) -> torch.Tensor:
        return self.readout


def load_run(path: str | Path) -> LoadedRun:
    """Read the run file at ``path``: its card, parameters, feedback, optimiser state and curves.

    Raises
    ------
    StorageError
        The file is missing, not HDF5 or corrupt, foreign (not a ``neuromorph-run``), of a newer format, holds a
        ``/config`` that does not load as a model card, or parameters of other shapes than its card's network
        (the message names the file and the fault).
    """
    path = Path(path)
    record = read_run(path, with_checkpoint=True)
    card = stored_card(record, path)
    try:
        spec = resolve(card, str(path), check_memory_on_load=False)
    except ConfigError as exc:
        raise StorageError(f"{path}: /config does not load as a model card of this neuromorph ({exc})") from None
    dtype = spec.train.precision.dtype
    shapes = _shapes(spec)
    checkpoint = load_checkpoint(record.checkpoint, path) if record.checkpoint is not None else None
    check_params(record, shapes, path, checkpoint)
    fields = {name: torch.as_tensor(np.asarray(record.params[name])).to(dtype)
              for name in Parameters._fields if name in record.params}
    params = complete(Parameters(**{n: fields.get(n) for n in Parameters._fields}), spec.network, dtype)
    feedback = torch.as_tensor(np.asarray(record.params["feedback"])).to(dtype)
    return LoadedRun(path, spec, card, params, feedback, None if checkpoint is None else checkpoint["learner"],
                     checkpoint, record.curves, record.status, record.iteration, record.attrs, record.versions,
                     record.last, record.recorded)


def _shapes(spec: RunSpec) -> dict[str, tuple[int, ...]]:
    n = spec.network
    return {"w_in": (n.n_rec, n.n_in), "w_rec": (n.n_rec, n.n_rec), "w_out": (n.n_out, n.n_rec),
            "feedback": (n.n_rec, n.n_out)}


def simulate(run, *args, **kwargs) -> Simulation:
    """Run a trained network forward on new input (no learning).

    ``simulate(run, inputs)``: ``run`` from :func:`load_run`; ``inputs`` a (T, B, n_in) tensor (or array), cast to
    the run's precision; returns a :class:`Simulation` (spikes, membrane, readout). The network starts at rest
    and runs the same step as training (:meth:`~neuromorph.backends.base.Lowered.step`, compiled where
    ``train.engine = "compiled"``); a run trained under a chip profile runs the chip's arithmetic on its stored
    (on-chip: already quantised; offline: deployed to the grid) weights.

    The lower-level form ``simulate(low, params, inputs, state=None)`` (a
    :class:`~neuromorph.backends.base.Lowered` network) is the torch backend's
    :func:`neuromorph.backends.torch.simulate` and returns its ``Recording`` (z, v, y).

    Raises
    ------
    ShapeError
        ``inputs`` is not (T, B, n_in) with the run's ``n_in``, or is empty.
    """
    if isinstance(run, Lowered):
        return torch_simulate(run, *args, **kwargs)
    if not isinstance(run, LoadedRun):
        raise ConfigError(f"simulate(run, inputs) takes a run from neuromorph.load_run(path), got {type(run).__name__}")
    return _simulate_run(run, *args, **kwargs)


def _simulate_run(run: LoadedRun, inputs, state: NetworkState | None = None) -> Simulation:
    spec = run.spec
    try:
        x = torch.as_tensor(inputs)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ShapeError(f"inputs must be an array of shape (T, B, {spec.network.n_in}): {exc}") from None
    n_in = spec.network.n_in
    if x.dim() != 3 or x.shape[2] != n_in or x.shape[0] == 0 or x.shape[1] == 0:
        hint = " (one trial: inputs[:, None, :])" if x.dim() == 2 else ""
        raise ShapeError(f"inputs have shape {tuple(x.shape)}, expected (T, B, n_in={n_in}) with T, B >= 1{hint}")
    dtype = spec.train.precision.dtype
    chip, params = None, run.params
    if spec.hardware is not None:
        from neuromorph.hardware.setup import prepare

        chip = prepare(spec).numerics
        if chip is not None:
            if run.checkpoint is not None:
                chip.restore_grids(run.checkpoint)
            if chip.mode == "offline":
                params = chip.deploy(params, rechoose=True)
    low = lower(spec.network, dtype, chip=chip, engine=spec.train.engine, device="cpu")
    rec = torch_simulate(low, params, x.to(dtype), state)
    return Simulation(rec.z, rec.v, rec.y)
