"""Entry points: build a network from a :class:`RunSpec` and train it.

``train`` runs the iterations with a progress bar, records learning curves,
checkpoints atomically into the output HDF5 file every
``train.checkpoint_every`` iterations, and resumes from that checkpoint when
the same card is run again with the same output file. NaN or Inf stops the run
with :class:`NonFiniteError`; the file then holds the parameters, optimiser and
generator state of the last good iteration and ``status = "failed"`` (also when the
first iteration fails). A resume is refused when the profile file, the backend or a
numeric package changed (:mod:`neuromorph.resume`) or the file is damaged; one
process writes an output at a time (:mod:`neuromorph.storage.lock`); Ctrl-C stops
after the current iteration with a resumable file (:mod:`neuromorph.interrupt`).

``train(spec, resume=RUN.h5)`` continues a finished (or interrupted) run to a new total of
``spec.train.iterations``: the card may differ from the stored one in ``train.iterations`` only, and the
parameters, the optimiser (Adam moments, step counts), the run's generator (task batches, a rule's
draws), the chip's rounding generator and grids, and the rule's carried state are restored from the
checkpoint, so 150 + 150 iterations end with the same numbers as 300 (``tests/test_continue.py``).
``train(spec, data=...)`` trains on the user's batches (:mod:`neuromorph.tasks.data`).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import inspect
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

import numpy as np
import torch
from tqdm.auto import tqdm

from neuromorph.backends.base import SequenceResult
from neuromorph.backends.registry import get_backend
from neuromorph.config import RunSpec, card_to_toml, resolved_card
from neuromorph.engine import Session
from neuromorph.errors import ConfigError, NeuromorphError, NonFiniteError, ShapeError, StorageError
from neuromorph.hardware.setup import HardwareSetup, prepare
from neuromorph.interrupt import deferred_interrupts
from neuromorph.network import Parameters, check_parameters, complete, init_parameters
from neuromorph.plasticity import Learner, Target
from neuromorph.plasticity.losses import accuracy
from neuromorph.resume import card_differences, profile_digest, resume_changes
from neuromorph.storage import RunRecord, package_versions, read_run, write_run
from neuromorph.storage.checkpoint import check_params, load_checkpoint, stored_card
from neuromorph.storage.lock import output_lock
from neuromorph.tasks import TASKS
from neuromorph.tasks.data import BatchSource, DataTask, batch_source
from neuromorph.types import LossKind, TrialBatch


@dataclass
class TrainResult:
    """Learning curves, final parameters, feedback matrix and the last iteration."""

    curves: dict[str, np.ndarray]
    params: Parameters
    feedback: torch.Tensor
    last: SequenceResult | None
    iterations: int
    resumed_from: int = 0
    path: Path | None = None
    hardware: HardwareSetup | None = None  #: the profile, its setup report and arithmetic (grids)
    #: whether this process wrote ``path``: False on an MPI rank other than 0 (``mpirun ... --backend nest``), which
    #: trained the same numbers and wrote and printed nothing (:mod:`neuromorph.backends.nest.mpi`)
    writer: bool = True


@dataclass
class _Run:
    """Mutable training state (what a checkpoint holds)."""

    session: Session
    generator: torch.Generator
    hardware: HardwareSetup | None = None
    curves: dict[str, list[float]] = field(default_factory=dict)
    iteration: int = 0
    last: SequenceResult | None = None  #: the last recorded iteration
    last_batch: TrialBatch | None = None  #: its batch
    data: BatchSource | None = None  #: the user's batches (train(data=...)), else the card's task
    last_arrays: dict = field(default_factory=dict)  #: /last of the file (host arrays)
    last_rule_state: dict = field(default_factory=dict)  #: /rule_state of the file
    recorded: dict = field(default_factory=dict)  #: /recorded of the file: iteration -> arrays (train.record_every)

    @property
    def params(self) -> dict[Target, torch.nn.Parameter]:
        return self.session.params

    @property
    def feedback(self) -> torch.Tensor:
        return self.session.feedback

    @property
    def learner(self) -> Learner:
        return self.session.learner


def train(
    spec: RunSpec,
    *,
    out: str | Path | None = None,
    params: Parameters | None = None,
    feedback: torch.Tensor | None = None,
    progress: bool = True,
    force: bool = False,
    backend: str = "torch",
    target: str | None = None,
    data=None,
    resume: str | Path | None = None,
) -> TrainResult:
    """Train ``spec``; write the run to ``out`` (HDF5) if given.

    Parameters
    ----------
    spec : RunSpec
        The run (:func:`neuromorph.load_card`).
    out : path, optional
        The run file. With an existing ``out`` written from the same card, a finished run is returned as is and
        an interrupted one resumes; a different card needs ``force=True`` (start over).
    params, feedback : optional
        Replace the random initialisation (e.g. to replay a published network); weights are post x pre, the
        shapes are checked.
    backend, target : str
        A backend of :mod:`neuromorph.backends.registry`: ``"torch"`` (default), ``"brian2"`` (simulated by
        brian2 on ``target``: numpy, cython or cpp_standalone; :mod:`neuromorph.backends.brian2`) or ``"nest"``
        (NEST 3.10's e-prop models on ``target`` threads; :mod:`neuromorph.backends.nest`). All write the same
        file layout; a model feature a backend does not lower fails here, before any simulation.
    data : optional
        The user's batches instead of the card's task (:func:`neuromorph.tasks.data.batch_source`): tensors
        ``(inputs (T, B, n_in) or (T, n_in), targets, [mask])`` trained on at every iteration, a sequence or
        iterable of :class:`~neuromorph.types.TrialBatch` (a finite iterable cycles), or a task object with
        ``sample(batch_size, generator)``. The stored card's task becomes ``"data"``
        (:class:`~neuromorph.tasks.data.DataTask`: shapes, loss kind, a digest of the tensors). A spec whose
        task is not registered in ``TASKS`` (a duck-typed task) is trained as ``data=spec.task``.
    resume : path, optional
        Continue the run stored there to a new total of ``spec.train.iterations`` (at least the iterations it
        holds): the stored card may differ from ``spec`` in ``train.iterations`` only (another difference is a
        :class:`ConfigError` naming the keys), and everything a checkpoint holds is restored (module
        docstring). ``out`` defaults to ``resume`` (continued in place); the file then holds the whole curve.
        A run trained on ``data`` continues with the same data.

    Returns
    -------
    TrainResult
        Curves (all iterations, a continued run's included), final parameters and feedback, the last recorded
        iteration; ``resumed_from`` is the iteration the run started from.
    """
    out = resume if out is None else out
    return _train(spec, out=out, params=params, feedback=feedback, progress=progress, force=force, backend=backend,
                  target=target, data=data, resume=resume)


def _train(spec: RunSpec, *, out, params, feedback, progress, force, backend, target, data, resume) -> TrainResult:
    torch.set_num_threads(spec.train.threads)
    if data is None and type(spec.task) not in TASKS.values():
        data = spec.task  # a duck-typed task: sampled like a card task, stored as task "data"
    kind = getattr(data, "loss", None) if hasattr(data, "sample") else spec.task.loss  # a task object: its own
    source = batch_source(data, spec.network, kind) if data is not None else None
    if source is not None:
        spec = dataclasses.replace(spec, task=source.describe(spec.task))
    toml = card_to_toml(resolved_card(spec))
    hardware = prepare(spec) if spec.hardware is not None else None
    if backend != "torch" and spec.train.device != "cpu":
        raise ConfigError(f"train.device = {spec.train.device!r} is the torch backend's; the {backend} backend "
                          "simulates on the CPU: set train.device = \"cpu\"")
    runner = get_backend(backend, target if backend != "torch" else None)
    runner.check(spec.network, spec.rule, hardware.numerics if hardware is not None else None, spec.task.n_steps)
    if source is None and isinstance(spec.task, DataTask):
        raise ConfigError(f"the card's task is 'data' ({spec.task.source or 'user batches'}): pass the batches as "
                          "train(spec, data=...), the same ones to continue a run")
    # the one place that decides who writes: a backend's ``writer`` (False on an MPI rank other than 0, which reads
    # the run file to resume as rank 0 does but never locks, writes or prints it; neuromorph.backends.nest.mpi)
    writer = getattr(runner, "writer", True)
    keep = out is not None and writer  # this process writes the run file
    # a second process writing the same ``out`` is refused with one line naming the holder
    with output_lock(out) if keep else contextlib.nullcontext():
        run = _start(spec, params, feedback, hardware, runner)
        run.data = source
        if resume is not None:
            resumed_from = _continue(run, Path(resume), Path(out), toml, spec, force, writer)
        else:
            resumed_from = _resume(run, Path(out), toml, force) if out is not None else 0
        if out is not None and resumed_from == spec.train.iterations:
            runner.close()
            if keep and resume is not None and Path(out).resolve() != Path(resume).resolve():
                write_run(out, _record(spec, run, toml, "complete"))
            return _result(run, spec, resumed_from, Path(out), writer)
        bar = tqdm(total=spec.train.iterations, initial=run.iteration, disable=not (progress and writer),
                   desc=spec.rule.name, unit="it")
        try:
            with deferred_interrupts() as interrupts:  # Ctrl-C stops after the iteration, with a resumable file
                while run.iteration < spec.train.iterations:
                    good = copy.deepcopy(_state(run))
                    try:
                        _iteration(spec, run)
                    except NonFiniteError:
                        _load_state(run, good)  # the file keeps the last good iteration, not a partial one
                        raise
                    bar.update(1)
                    bar.set_postfix(_postfix(run.curves))
                    if keep and (run.iteration % spec.train.checkpoint_every == 0 or interrupts.requested):
                        write_run(out, _record(spec, run, toml, "running"))
                    interrupts.check()
        except NeuromorphError as exc:
            # a card refused at its first batch (a backend's check of the batch: a ConfigError) leaves no file behind
            refused_at_start = isinstance(exc, ConfigError) and run.iteration == resumed_from == 0
            if keep and not refused_at_start:
                write_run(out, _record(spec, run, toml, "failed", error=str(exc)))
            raise
        finally:
            bar.close()
            runner.close()
        if keep:
            write_run(out, _record(spec, run, toml, "complete"))
        return _result(run, spec, resumed_from, Path(out) if out is not None else None, writer)


def _start(
    spec: RunSpec, params: Parameters | None, feedback: torch.Tensor | None, hardware: HardwareSetup | None,
    backend,
) -> _Run:
    """Draw (or take) the parameters; under an on-chip profile, put them on the chip's grids."""
    dtype = spec.train.precision.dtype
    generator = torch.Generator().manual_seed(spec.train.seed)
    drawn, drawn_feedback = init_parameters(spec.network, spec.init, generator, dtype)
    params = drawn if params is None else complete(Parameters(*params), spec.network, dtype)
    feedback = drawn_feedback if feedback is None else torch.as_tensor(feedback, dtype=dtype)
    check_parameters(spec.network, params, feedback)
    chip = hardware.numerics if hardware is not None else None
    on_chip = hardware is not None and hardware.on_chip
    optimizer = dataclasses.replace(spec.optimizer, lr=hardware.report.lr) if on_chip else spec.optimizer
    session = Session.create(spec.network, spec.rule, spec.task.loss, optimizer, params, feedback, dtype=dtype,
                             chip=chip, backend=backend, on_chip=on_chip, engine=spec.train.engine,
                             device=spec.train.device)  # drawn on the CPU above, moved to the device here
    return _Run(session, generator, hardware)


def _iteration(spec: RunSpec, run: _Run) -> SequenceResult:
    """One batch. Outputs and rule state are recorded only when they will be written: every
    ``train.record_every`` iterations (all of them kept), else every ``train.checkpoint_every`` (the latest
    kept), and the last iteration."""
    dtype = spec.train.precision.dtype
    if run.data is not None:
        batch = run.data.batch(run.iteration, spec.train.batch_size, run.generator)
        if batch.batch_size != spec.train.batch_size:
            raise ShapeError(f"data: the batch of iteration {run.iteration} has B = {batch.batch_size} trials but "
                             f"train.batch_size = {spec.train.batch_size}; set train.batch_size = {batch.batch_size}")
    else:
        batch = _sample(spec.task, spec.train.batch_size, run.generator, dtype)
    batch = batch.to(dtype, spec.train.device)
    done = run.iteration + 1
    every = spec.train.record_every
    record = done % (every or spec.train.checkpoint_every) == 0 or done == spec.train.iterations
    res = run.session.step(batch, record=record, generator=run.generator)
    if not np.isfinite(res.loss):
        raise NonFiniteError(
            f"loss became {res.loss} at iteration {run.iteration}; lower optimizer.lr or the weight gains"
        )
    _append(run.curves, "loss", res.loss)
    if spec.network.spiking:
        rate = res.spike_count / (batch.n_steps * batch.batch_size * spec.network.n_rec * spec.network.dt)
        _append(run.curves, "rate_hz", rate)
        _append(run.curves, "spike_count", res.spike_count)
    if spec.task.loss is LossKind.CLASSIFICATION:
        _append(run.curves, "accuracy", accuracy(res.mean_output, batch.targets, batch.mask))
    run.iteration += 1
    if record:
        run.last, run.last_batch = res, batch
        run.last_arrays, run.last_rule_state = _recorded_arrays(spec, res, batch)
        if every is not None:
            run.recorded[done] = {**run.last_arrays, "rule_state": run.last_rule_state}
    return res


def _sample(task, batch_size: int, generator: torch.Generator, dtype: torch.dtype) -> TrialBatch:
    """``task.sample``, in ``dtype`` where the task draws in a given type (the sine task: a float64 target)."""
    if "dtype" in inspect.signature(task.sample).parameters:
        return task.sample(batch_size, generator, dtype=dtype)
    return task.sample(batch_size, generator)


def _recorded_arrays(spec: RunSpec, last: SequenceResult, batch: TrialBatch) -> tuple[dict, dict]:
    """What the file holds of a recorded iteration (host arrays): /last and /rule_state."""
    arrays = {
        "inputs": _host(batch.inputs),
        **({"spikes": _host(last.z).astype(np.uint8)} if spec.network.spiking else {"rates": _host(last.z)}),
        "output": _host(last.y),
        "target": _host(batch.targets),
        "mask": _host(batch.mask),
    }
    return arrays, {k: _host(v) for k, v in last.rule_state.items()}


def _postfix(curves: dict[str, list[float]]) -> dict[str, str]:
    shown = {"loss": f"{curves['loss'][-1]:.4g}"}
    if "rate_hz" in curves:
        shown["rate"] = f"{curves['rate_hz'][-1]:.1f}Hz"
    return shown


def _append(curves: dict[str, list[float]], name: str, value: float) -> None:
    curves.setdefault(name, []).append(value)


def _record(spec: RunSpec, run: _Run, toml: str, status: str, error: str | None = None) -> RunRecord:
    params = {t.value: _host(p) for t, p in run.params.items()}
    params["feedback"] = _host(run.feedback)
    return RunRecord(
        config_toml=toml,
        seed=spec.train.seed,
        versions={**package_versions(), **getattr(run.session.backend, "versions", {})},
        status=status,
        iteration=run.iteration,
        curves={"loss": np.zeros(0), **{k: np.asarray(v) for k, v in run.curves.items()}},  # a failed 1st iteration
        params=params,
        last=run.last_arrays,
        rule_state=run.last_rule_state,
        attrs={"dt": spec.network.dt, "loss": spec.task.loss.value, "rule": spec.rule.name,
               "engine": spec.train.engine, **_hardware_attrs(run),
               **run.session.backend.attrs, **getattr(run.session.backend, "run_attrs", {})},
        checkpoint=_checkpoint(run),
        error=error,
        recorded=run.recorded,
    )


def _host(tensor: torch.Tensor) -> np.ndarray:
    """A tensor as a numpy array for the run file (copied from the device here, at writing time only)."""
    return tensor.detach().cpu().numpy()


def _to_cpu(obj):
    """``obj`` (nested dicts, lists, tuples of tensors) with every tensor on the CPU: a checkpoint loads anywhere."""
    if torch.is_tensor(obj):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def _hardware_attrs(run: _Run) -> dict:
    hw = run.hardware
    if hw is None:
        return {}
    attrs = {"profile": hw.profile.id, "hardware_mode": hw.report.mode, "hardware_report": hw.report.format(),
             "profile_sha256": profile_digest(hw.profile.path)}
    if hw.report.lr is not None:
        attrs["lr_on_chip"] = hw.report.lr
    return attrs


def _state(run: _Run) -> dict:
    """What a checkpoint holds (references, not copies: deep-copy to keep it)."""
    return {
        "params": {t.value: p.detach() for t, p in run.params.items()},
        "feedback": run.feedback,
        "learner": run.learner.state_dict(),
        "generator": run.generator.get_state(),
        "iteration": run.iteration,
        "curves": run.curves,
        "rule_carry": run.session.carry,
        **_chip_state(run),
    }


def _checkpoint(run: _Run) -> dict:
    """The resume state on the CPU, stored as named HDF5 datasets (:mod:`neuromorph.storage.tree`)."""
    return _to_cpu(_state(run))


def _resume(run: _Run, out: Path, toml: str, force: bool) -> int:
    """Load the checkpoint in ``out`` if it was written from the same card, profile, backend and
    package versions (:func:`resume_changes`); returns its iteration. A damaged file is refused."""
    if not out.exists() or force:
        return 0
    record = read_run(out, with_checkpoint=True)
    if record.config_toml != toml:
        differences = card_differences(stored_card(record, out), tomllib.loads(toml))
        if [d.split(" ")[0] for d in differences] == ["train.iterations"]:
            raise ConfigError(f"{out} holds a run of a different model card, in train.iterations only "
                              f"{differences[0].partition(' ')[2]}: "
                              f"continue it with `neuromorph train {out} --continue --iterations N` "
                              "(train(spec, resume=path)), pass --force to start over, or pick another --out")
        raise ConfigError(f"{out} holds a run of a different model card ({', '.join(differences) or 'text differs'}); "
                          "pass --force to overwrite it or pick another --out")
    changes = resume_changes(record, run.hardware, run.session.backend.attrs)
    if changes:
        raise ConfigError(f"{out} cannot resume: {'; '.join(changes)}; resuming would mix results: pass --force to "
                          "start over or pick another --out")
    shapes = _shapes(run)
    if record.checkpoint is None:
        check_params(record, shapes, out)
        return 0
    state = load_checkpoint(record.checkpoint, out)
    check_params(record, shapes, out, state)
    _load_state(run, state)
    _load_recorded(run, record)
    return run.iteration


def _continue(run: _Run, source: Path, out: Path, toml: str, spec: RunSpec, force: bool, writer: bool = True) -> int:
    """Load the run at ``source`` to continue it to ``spec.train.iterations`` (``train(resume=...)``).

    The stored card may differ in ``train.iterations`` only; the profile file, backend and numeric packages
    must be the same (:func:`resume_changes`); the file must hold a checkpoint. Returns its iteration.
    """
    record = read_run(source, with_checkpoint=True)  # a missing, corrupt or foreign file: StorageError
    # a process that does not write overwrites nothing (under mpirun rank 0 may already have written ``out``)
    if writer and out.resolve() != source.resolve() and out.exists() and not force:
        raise ConfigError(f"{out} exists: continuing {source} into it would overwrite it; pass --force or pick "
                          "another --out")
    differences = [d for d in card_differences(stored_card(record, source), tomllib.loads(toml))
                   if d.split(" ")[0] != "train.iterations"]
    if differences:
        raise ConfigError(f"{source} cannot be continued with this card: it differs from the stored card in "
                          f"{', '.join(differences)}; only train.iterations may change (start a new run for the rest)")
    if record.iteration > spec.train.iterations:
        raise ConfigError(f"{source} already holds {record.iteration} iterations; --iterations N (train.iterations) "
                          f"is the new total, give N >= {record.iteration}")
    changes = resume_changes(record, run.hardware, run.session.backend.attrs)
    if changes:
        raise ConfigError(f"{source} cannot be continued: {'; '.join(changes)}; continuing would mix results: "
                          "start a new run")
    if record.checkpoint is None:
        raise StorageError(f"{source} holds no checkpoint (/checkpoint/blob) to continue from; it cannot be "
                           "continued: start a new run")
    state = load_checkpoint(record.checkpoint, source)
    check_params(record, _shapes(run), source, state)
    _load_state(run, state)
    _load_recorded(run, record)
    return run.iteration


def _shapes(run: _Run) -> dict[str, tuple[int, ...]]:
    return {t.value: tuple(p.shape) for t, p in run.params.items()} | {"feedback": tuple(run.feedback.shape)}


def _load_recorded(run: _Run, record: RunRecord) -> None:
    """The recorded iterations of a stored run (its /last, /rule_state, /recorded), kept in the continued file."""
    run.last_arrays, run.last_rule_state = dict(record.last), dict(record.rule_state)
    run.recorded = {int(k): v for k, v in record.recorded.items() if int(k) <= run.iteration}


def _load_state(run: _Run, state: dict) -> None:
    """Put a checkpoint (or an in-memory snapshot) back into ``run``."""
    with torch.no_grad():
        for name, value in state["params"].items():
            run.params[Target(name)].copy_(value)
        run.feedback.copy_(state["feedback"])
    run.learner.load_state_dict(state["learner"])
    run.generator.set_state(state["generator"])
    run.iteration = int(state["iteration"])
    run.curves = {k: list(v) for k, v in state["curves"].items()}
    run.session.carry.update(state.get("rule_carry", {}))
    chip = run.hardware.numerics if run.hardware is not None else None
    if chip is not None and "chip_generator" in state:
        chip.generator.set_state(state["chip_generator"])
        chip.restore_grids(state)


def _chip_state(run: _Run) -> dict:
    """The chip's rounding generator and weight grids (a resumed run continues the same random stream)."""
    chip = run.hardware.numerics if run.hardware is not None else None
    if chip is None:
        return {}
    return {"chip_generator": chip.generator.get_state(), "chip_steps": chip.grids.steps,
            "chip_exponents": chip.grids.exponents}


def _result(run: _Run, spec: RunSpec, resumed_from: int, path: Path | None, writer: bool = True) -> TrainResult:
    params = Parameters(**{t.value: p.detach().clone() for t, p in run.params.items()})
    curves = {k: np.asarray(v) for k, v in run.curves.items()}
    return TrainResult(curves, params, run.feedback.clone(), run.last, run.iteration, resumed_from, path, run.hardware,
                       writer)
