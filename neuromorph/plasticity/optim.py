r"""Applying gradients: SGD or Adam from ``torch.optim``, clipping, no autapses (spiking networks).

Weight decay is decoupled: every targeted weight is multiplied by
:math:`1 - \eta\lambda` per update (torch ``SGD``'s L2 term is identical for SGD;
Adam uses ``AdamW``). With adaptive feedback the feedback matrix receives the
same gradient step as the readout and the same decay,
:math:`B \leftarrow (1-\eta\lambda) B + \Delta^{\mathrm{grad}} W^{\mathrm{out}\top}`,
so :math:`B - W^{\mathrm{out}\top}` decays geometrically (Kolen-Pollack; Bellec
et al. 2020, Methods).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import torch

from neuromorph.errors import ConfigError, NonFiniteError
from neuromorph.plasticity.base import Target


class OptimizerName(enum.Enum):
    SGD = "sgd"
    ADAM = "adam"


@dataclass(frozen=True)
class OptimizerSpec:
    """``lr`` (η), decoupled ``weight_decay`` (λ) and ``clip`` (|w| bound, or None)."""

    name: OptimizerName = OptimizerName.ADAM
    lr: float = 1e-3
    weight_decay: float = 0.0
    clip: float | None = None

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ConfigError(f"optimizer.lr must be > 0, got {self.lr!r}")
        if self.weight_decay < 0:
            raise ConfigError(f"optimizer.weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.clip is not None and not self.clip > 0:
            raise ConfigError(f"optimizer.clip must be > 0, got {self.clip!r}")


class Learner:
    """Owns the trainable tensors and applies gradient dictionaries to them in place."""

    def __init__(
        self,
        spec: OptimizerSpec,
        params: dict[Target, torch.nn.Parameter],
        targets: frozenset[Target],
        feedback: torch.Tensor | None = None,
        zero_diagonal: bool = True,
        write: Callable[[str, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.spec = spec
        self.params = params
        self.targets = targets
        self.feedback = feedback  #: adapted in place when not None
        self.zero_diagonal = zero_diagonal  #: keep W_rec free of autapses (spiking networks)
        self.write = write  #: ``write(name, old, new) -> stored``: a chip's rounding of each update
        trained = [params[t] for t in sorted(targets, key=lambda t: t.value)]
        if spec.name is OptimizerName.SGD:
            self.optimizer = torch.optim.SGD(trained, lr=spec.lr, weight_decay=spec.weight_decay)
        else:
            self.optimizer = torch.optim.AdamW(trained, lr=spec.lr, weight_decay=spec.weight_decay)
        self.updates = 0

    @torch.no_grad()
    def apply(self, grads: dict[Target, torch.Tensor]) -> None:
        """One optimizer step with ``grads`` (a gradient per target; others untouched)."""
        for target, grad in grads.items():
            if target in self.targets and not torch.isfinite(grad).all():
                raise NonFiniteError(f"NaN or Inf in the {target.value} update at update {self.updates}")
        for target in self.targets:
            self.params[target].grad = grads[target].to(self.params[target].dtype)
        w_out_old = self.params[Target.W_OUT].detach().clone() if self.feedback is not None else None
        old = {t: self.params[t].detach().clone() for t in self.targets} if self.write is not None else {}
        self.optimizer.step()
        for target, before in old.items():
            self.params[target].copy_(self.write(target.value, before, self.params[target]))
        self.optimizer.zero_grad(set_to_none=True)
        if Target.W_REC in self.targets and self.zero_diagonal:
            self.params[Target.W_REC].fill_diagonal_(0.0)
        if self.spec.clip is not None:
            for target in self.targets:
                self.params[target].clamp_(-self.spec.clip, self.spec.clip)
        if self.feedback is not None and Target.W_OUT in self.targets:
            shrink = self.spec.lr * self.spec.weight_decay
            step = self.params[Target.W_OUT] - w_out_old + shrink * w_out_old
            self.feedback.mul_(1.0 - shrink).add_(step.T)
        self.updates += 1

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])
