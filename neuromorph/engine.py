r"""The training step every driver shares: a network's parameters, its optimiser, its backend, one batch at a time.

:class:`Session` owns the trainable tensors (post × pre, :class:`~neuromorph.network.Parameters`),
the feedback matrix, the :class:`~neuromorph.plasticity.Learner` and a backend from
:mod:`neuromorph.backends.registry`. :meth:`Session.step` runs one batch through the backend's
``train_sequence`` with the rule, so :mod:`neuromorph.experiment` (cards, curves, checkpoints,
run files) and the study drivers (for example the linear-theory comparison, which draws its own
teacher batches) train through the same code. :func:`run_curriculum` trains a session on a schedule laid
out in advance (:class:`~neuromorph.backends.base.Curriculum`: the contrastive study's presentations and
evaluations), the same schedule on every backend.

Under a chip profile in ``offline`` mode the forward pass runs on quantised weights while the
optimiser updates float shadow weights (:meth:`ChipNumerics.deploy`); in ``on_chip`` mode every
update is rounded onto the chip's grid by the learner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from neuromorph.backends.base import (
    Curriculum,
    CurriculumResult,
    Lowered,
    NetworkState,
    SequenceResult,
    lower,
    presentation_batch,
)
from neuromorph.backends.registry import Backend, get_backend
from neuromorph.errors import NonFiniteError
from neuromorph.hardware.numerics import ChipNumerics
from neuromorph.network import NetworkSpec, Parameters
from neuromorph.plasticity import Feedback, Learner, OptimizerSpec, Rule, Target
from neuromorph.types import LossKind, TrialBatch


@dataclass
class Session:
    """A network in training: parameters, feedback, optimiser, backend (module docstring)."""

    low: Lowered
    rule: Rule
    kind: LossKind
    params: dict[Target, torch.nn.Parameter]
    feedback: torch.Tensor
    learner: Learner
    backend: Backend
    carry: dict = field(default_factory=dict)  #: the rule's state across sequences (checkpointed by the caller)

    @classmethod
    def create(
        cls, network: NetworkSpec, rule: Rule, kind: LossKind, optimizer: OptimizerSpec, params: Parameters,
        feedback: torch.Tensor, *, dtype: torch.dtype = torch.float32, chip: ChipNumerics | None = None,
        backend: Backend | None = None, on_chip: bool = False, masks: dict[Target, torch.Tensor] | None = None,
        engine: str | None = "torch", device: str | torch.device = "cpu",
    ) -> Session:
        """Take ``params`` (put on the chip's grids when learning ``on_chip``) and build the optimiser;
        ``masks`` marks the synapses that exist (:class:`~neuromorph.plasticity.Learner`). The parameters,
        feedback and masks move to ``device`` (``train.device``), where the optimiser keeps its state."""
        low = lower(network, dtype, chip=chip, engine=engine, device=device)  # refuses an engine the device lacks
        write = None
        if on_chip and chip is not None:
            params, write = chip.deploy(params, rechoose=True), chip.write
        tensors = {Target(name): torch.nn.Parameter(value.detach().to(low.device).clone())
                   for name, value in params._asdict().items()}
        feedback = torch.as_tensor(feedback, dtype=dtype).to(low.device).clone()
        masks = None if masks is None else {t: m.to(low.device) for t, m in masks.items()}
        adaptive = getattr(rule, "feedback", None) is Feedback.ADAPTIVE
        learner = Learner(optimizer, tensors, rule.targets, feedback if adaptive else None,
                          zero_diagonal=not network.self_connections, write=write, masks=masks)
        backend = backend if backend is not None else get_backend("torch")
        return cls(low, rule, kind, tensors, feedback, learner, backend)

    @property
    def parameters(self) -> Parameters:
        """The current parameters (views of the trained tensors)."""
        return Parameters(**{t.value: p for t, p in self.params.items()})

    def step(self, batch: TrialBatch, *, record: bool = False, generator: torch.Generator | None = None,
             initial_state: NetworkState | None = None, on_update: Callable[[], None] | None = None) -> SequenceResult:
        """Train on one batch; the rule's updates go through the learner.

        ``initial_state`` carries the network on from an earlier result's ``final`` state (default: rest);
        ``on_update()`` is called after every update (to watch the weights change within a sequence).
        The batch moves to the session's device first; a learner that checks its updates on the device
        (:attr:`Learner.deferred`) raises a refused update here, once per sequence.
        """
        if batch.device != self.low.device:
            batch = batch.to(device=self.low.device)
        result = self._step(batch, record, generator, initial_state, on_update)
        self.learner.check()
        return result

    def _step(self, batch: TrialBatch, record: bool, generator, initial_state, on_update) -> SequenceResult:
        chip = self.low.chip
        if chip is not None and chip.mode == "offline":
            return self._offline_chip_step(chip, batch, record, generator, initial_state)
        apply = self.learner.apply
        if on_update is not None:
            def apply(grads):
                self.learner.apply(grads)
                on_update()
        return self.backend.train_sequence(self.low, self.parameters, self.feedback, self.rule, self.kind, batch,
                                           apply, initial_state, record=record, generator=generator, carry=self.carry)

    def _offline_chip_step(self, chip: ChipNumerics, batch: TrialBatch, record: bool, generator,
                          initial_state: NetworkState | None) -> SequenceResult:
        """Float shadow weights, quantised forward pass: every update is re-deployed onto the grid."""
        deployed = chip.deploy(self.parameters, rechoose=True)

        def apply(grads):
            self.learner.apply(grads)
            fresh = chip.deploy(self.parameters, rechoose=True)
            with torch.no_grad():
                for name in chip.grids.steps:
                    getattr(deployed, name).copy_(getattr(fresh, name))

        return self.backend.train_sequence(self.low, deployed, self.feedback, self.rule, self.kind, batch, apply,
                                           initial_state, record=record, generator=generator, carry=self.carry)


@torch.no_grad()
def run_curriculum(session: Session, curriculum: Curriculum, *, progress: bool = False,
                   desc: str = "curriculum") -> CurriculumResult:
    """Train ``session`` on a :class:`~neuromorph.backends.base.Curriculum`, evaluating where it says.

    A backend that runs a whole curriculum itself (``train_curriculum``) gets it in one call; otherwise every
    presentation is one :meth:`Session.step` (plain SGD at the presentation's η) and every evaluation one
    ``simulate``. The session's parameters are the trained ones afterwards (the last finite ones on divergence).
    """
    whole = getattr(session.backend, "train_curriculum", None)
    if whole is not None:
        result = whole(session.low, session.parameters, session.rule, curriculum)
        with torch.no_grad():
            for target, tensor in session.params.items():
                tensor.copy_(getattr(result.params, target.value))
        return result
    outputs = [_evaluate(session, curriculum)] if 0 in curriculum.evaluate_after else []
    raster: dict[str, list] = {"y": [], "weight": []}
    state = None
    for i, p in enumerate(tqdm(curriculum.presentations, desc=desc, disable=not progress, leave=False)):
        batch = presentation_batch(curriculum, p)
        session.learner.set_lr(p.lr)
        watched: list[torch.Tensor] = []
        watch = _watcher(session, curriculum.watch, watched) if p.record else None
        try:
            res = session.step(batch, record=p.record, on_update=watch, initial_state=None if p.reset else state)
        except NonFiniteError:
            return CurriculumResult(torch.stack(outputs), session.parameters, {}, diverged=len(outputs))
        state = res.final
        if p.record:
            steps = [t for t, phase in enumerate(p.phase) if phase]
            raster["y"] += [res.y[t, 0] for t in steps]
            raster["weight"] += [watched[t] for t in steps]
        if i + 1 in curriculum.evaluate_after:
            outputs.append(_evaluate(session, curriculum))
    stacked = {n: torch.stack(v) for n, v in raster.items() if v}
    return CurriculumResult(torch.stack(outputs), session.parameters, stacked)


def _watcher(session: Session, watch: tuple[int, int], into: list) -> Callable[[], None]:
    """After each update: append ``w_rec[row, :k]`` to ``into``."""
    row, k = watch
    return lambda: into.append(session.params[Target.W_REC][row, :k].detach().clone())


def _evaluate(session: Session, c: Curriculum) -> torch.Tensor:
    """The readout after a free relaxation from rest (mean of the last ``eval_average`` steps)."""
    x = c.x[c.eval_samples].to(session.low.device)
    y = session.backend.simulate(session.low, session.parameters, x.expand(c.eval_steps, *x.shape)).y
    return y[-c.eval_average:].mean(0) if c.eval_average > 1 else y[-1]
