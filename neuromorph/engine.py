r"""The training step every driver shares: a network's parameters, its optimiser, its backend, one batch at a time.

:class:`Session` owns the trainable tensors (post × pre, :class:`~neuromorph.network.Parameters`),
the feedback matrix, the :class:`~neuromorph.plasticity.Learner` and a backend from
:mod:`neuromorph.backends.registry`. :meth:`Session.step` runs one batch through the backend's
``train_sequence`` with the rule, so :mod:`neuromorph.experiment` (cards, curves, checkpoints,
run files) and the study drivers (for example the linear-theory comparison, which draws its own
teacher batches) train through the same code.

Under a chip profile in ``offline`` mode the forward pass runs on quantised weights while the
optimiser updates float shadow weights (:meth:`ChipNumerics.deploy`); in ``on_chip`` mode every
update is rounded onto the chip's grid by the learner.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from neuromorph.backends.base import Lowered, SequenceResult, lower
from neuromorph.backends.registry import Backend, get_backend
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
        backend: Backend | None = None, on_chip: bool = False,
    ) -> Session:
        """Take ``params`` (put on the chip's grids when learning ``on_chip``) and build the optimiser."""
        write = None
        if on_chip and chip is not None:
            params, write = chip.deploy(params, rechoose=True), chip.write
        tensors = {Target(name): torch.nn.Parameter(value.clone()) for name, value in params._asdict().items()}
        feedback = torch.as_tensor(feedback, dtype=dtype).clone()
        adaptive = getattr(rule, "feedback", None) is Feedback.ADAPTIVE
        learner = Learner(optimizer, tensors, rule.targets, feedback if adaptive else None,
                          zero_diagonal=not network.self_connections, write=write)
        return cls(lower(network, dtype, chip=chip), rule, kind, tensors, feedback, learner,
                   backend if backend is not None else get_backend("torch"))

    @property
    def parameters(self) -> Parameters:
        """The current parameters (views of the trained tensors)."""
        return Parameters(**{t.value: p for t, p in self.params.items()})

    def step(self, batch: TrialBatch, *, record: bool = False, generator: torch.Generator | None = None) -> SequenceResult:
        """Train on one batch; the rule's updates go through the learner."""
        chip = self.low.chip
        if chip is not None and chip.mode == "offline":
            return self._offline_chip_step(chip, batch, record, generator)
        return self.backend.train_sequence(self.low, self.parameters, self.feedback, self.rule, self.kind, batch,
                                           self.learner.apply, record=record, generator=generator, carry=self.carry)

    def _offline_chip_step(self, chip: ChipNumerics, batch: TrialBatch, record: bool, generator) -> SequenceResult:
        """Float shadow weights, quantised forward pass: every update is re-deployed onto the grid."""
        deployed = chip.deploy(self.parameters, rechoose=True)

        def apply(grads):
            self.learner.apply(grads)
            fresh = chip.deploy(self.parameters, rechoose=True)
            with torch.no_grad():
                for name in chip.grids.steps:
                    getattr(deployed, name).copy_(getattr(fresh, name))

        return self.backend.train_sequence(self.low, deployed, self.feedback, self.rule, self.kind, batch, apply,
                                           record=record, generator=generator, carry=self.carry)
