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
    """``lr`` (η), decoupled ``weight_decay`` (λ) and ``clip`` (bound on ``|w|``, or None)."""

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
        masks: dict[Target, torch.Tensor] | None = None,
        deferred: bool | None = None,
    ) -> None:
        self.spec = spec
        self.params = params
        self.targets = targets
        self.feedback = feedback  #: adapted in place when not None
        self.zero_diagonal = zero_diagonal  #: keep W_rec free of autapses (spiking networks)
        self.write = write  #: ``write(name, old, new) -> stored``: a chip's rounding of each update
        #: per target, 1 where a synapse exists and 0 where it does not (a layered network's absent blocks): absent
        #: synapses stay zero whatever the gradient says
        self.masks = dict(masks or {})
        trained = [params[t] for t in sorted(targets, key=lambda t: t.value)]
        if spec.name is OptimizerName.SGD:
            self.optimizer = torch.optim.SGD(trained, lr=spec.lr, weight_decay=spec.weight_decay)
        else:
            self.optimizer = torch.optim.AdamW(trained, lr=spec.lr, weight_decay=spec.weight_decay)
        self.updates = 0
        #: check finiteness on the device and refuse at :meth:`check` (once per sequence), not at every update:
        #: the default off the CPU, where a check per update would stop the time loop until the device catches up
        self.deferred = any(p.device.type != "cpu" for p in params.values()) if deferred is None else deferred
        self._good: torch.Tensor | None = None  #: deferred: all updates since the last check were finite (device)
        self._masked: torch.Tensor | None = None  #: deferred: updates refused since the last check (device)

    @torch.no_grad()
    def apply(self, grads: dict[Target, torch.Tensor]) -> None:
        """One optimizer step with ``grads`` (a gradient per target; others untouched).

        Targets are visited in a fixed order (sorted by name), so a chip's stochastic rounding
        draws the same numbers whatever the hash seed. A non-finite gradient is refused before
        the step; a step that makes a parameter, the feedback or the optimiser state non-finite
        is rolled back exactly (values and optimiser state as before the call), then refused.
        An empty ``grads`` (a window in which the rule did not learn) is no step at all.

        With ``deferred`` the same checks run on the device without reading their result: a refused
        update and every one after it leave the values and moments as they were, and :meth:`check`
        raises the :class:`NonFiniteError` (the caller calls it once per sequence).
        """
        if not grads:
            return
        if self.deferred:
            self._apply_deferred(grads)
            return
        if not _all_finite([grads[t] for t in self.order if t in grads]):
            bad = next(t for t in self.order if t in grads and not torch.isfinite(grads[t]).all())
            raise NonFiniteError(f"NaN or Inf in the {bad.value} gradient at update {self.updates}; "
                                 "lower optimizer.lr or the weight gains")
        saved = self._snapshot()
        self._step(grads)
        bad = None if _all_finite(self._checked()) else self._non_finite()
        if bad is not None:
            self._restore(saved)
            raise NonFiniteError(f"the update at update {self.updates} made {bad} NaN or Inf (not applied: the "
                                 "parameters stay those of the last good update); lower optimizer.lr or the weight gains")
        self.updates += 1

    def _apply_deferred(self, grads: dict[Target, torch.Tensor]) -> None:
        """:meth:`apply` without a host synchronisation: the checks and the roll-back are tensor operations."""
        order = self.order
        finite = [torch.isfinite(grads[t]).all() for t in order if t in grads]
        values, state, feedback = self._snapshot()
        self._step(grads)
        finite += [torch.isfinite(self.params[t]).all() for t in order]
        for t in order:
            finite += [torch.isfinite(v).all() for k, v in self.optimizer.state.get(self.params[t], {}).items()
                       if k != "step" and torch.is_tensor(v) and v.is_floating_point()]
        if self.feedback is not None:
            finite.append(torch.isfinite(self.feedback).all())
        ok = torch.stack(finite).all()
        self._good = ok if self._good is None else self._good & ok
        self._masked = (~self._good).to(torch.int64) + (0 if self._masked is None else self._masked)
        for t, before in values.items():
            self.params[t].copy_(torch.where(self._good, self.params[t], before))
        for p, st in self.optimizer.state.items():
            saved = state.get(id(p), {})
            for key, value in st.items():
                if key != "step" and torch.is_tensor(value):  # the moments (the step count: check())
                    value.copy_(torch.where(self._good, value, saved.get(key, torch.zeros_like(value))))
        if feedback is not None:
            self.feedback.copy_(torch.where(self._good, self.feedback, feedback))
        self.updates += 1

    def check(self) -> None:
        """Raise the :class:`NonFiniteError` of a refused deferred update (one host synchronisation); no-op otherwise.

        The values and moments are those of the last good update already; the optimiser's step counts (host
        numbers) are put back here, so the state is exactly that of the last good update.
        """
        if self._good is None:
            return
        good, masked = bool(self._good), int(self._masked)
        self._good = self._masked = None
        if good:
            return
        self.updates -= masked
        for p in list(self.optimizer.state):
            st = self.optimizer.state[p]
            if "step" in st:
                st["step"] = st["step"] - masked
                if float(st["step"]) <= 0:  # the refused update was the first: no state, as before it
                    del self.optimizer.state[p]
        raise NonFiniteError(f"NaN or Inf in the update at update {self.updates} (not applied: the parameters stay "
                             "those of the last good update); lower optimizer.lr or the weight gains")

    def set_lr(self, lr: float) -> None:
        """Change η for the following steps (a schedule: a driver's per-epoch decay)."""
        if not lr >= 0:
            raise ConfigError(f"a learning rate must be >= 0, got {lr!r}")
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    @property
    def order(self) -> list[Target]:
        """The trained targets, sorted by name (a fixed iteration order, unlike the frozenset)."""
        return sorted(self.targets, key=lambda t: t.value)

    def _step(self, grads: dict[Target, torch.Tensor]) -> None:
        order = self.order
        for target in order:
            self.params[target].grad = grads[target].to(self.params[target].dtype)
        w_out_old = self.params[Target.W_OUT].detach().clone() if self.feedback is not None else None
        old = {t: self.params[t].detach().clone() for t in order} if self.write is not None else {}
        self.optimizer.step()
        for target, before in old.items():
            self.params[target].copy_(self.write(target.value, before, self.params[target]))
        self.optimizer.zero_grad(set_to_none=True)
        if Target.W_REC in self.targets and self.zero_diagonal:
            self.params[Target.W_REC].fill_diagonal_(0.0)
        for target, mask in self.masks.items():
            if target in self.targets:
                self.params[target].mul_(mask)
        if self.spec.clip is not None:
            for target in order:
                self.params[target].clamp_(-self.spec.clip, self.spec.clip)
        if self.feedback is not None and Target.W_OUT in self.targets:
            shrink = self.spec.lr * self.spec.weight_decay
            step = self.params[Target.W_OUT] - w_out_old + shrink * w_out_old
            self.feedback.mul_(1.0 - shrink).add_(step.T)

    def _snapshot(self) -> tuple[dict, dict, torch.Tensor | None]:
        """Copies of the trained values, the optimiser's per-parameter state and the feedback."""
        values = {t: self.params[t].detach().clone() for t in self.order}
        state = {id(p): {k: v.clone() if torch.is_tensor(v) else v for k, v in st.items()}
                 for p, st in self.optimizer.state.items()}
        return values, state, None if self.feedback is None else self.feedback.clone()

    def _restore(self, saved: tuple[dict, dict, torch.Tensor | None]) -> None:
        values, state, feedback = saved
        for target, value in values.items():
            self.params[target].copy_(value)
        for p in list(self.optimizer.state):
            if id(p) in state:
                self.optimizer.state[p] = state[id(p)]
            else:  # the first step created this state: remove it again
                del self.optimizer.state[p]
        if feedback is not None:
            self.feedback.copy_(feedback)
        self.optimizer.zero_grad(set_to_none=True)

    def _checked(self) -> list[torch.Tensor]:
        """What must stay finite: the trained values, their optimiser state and the adapted feedback."""
        out = []
        for target in self.order:
            out.append(self.params[target])
            out += [v for v in self.optimizer.state.get(self.params[target], {}).values()
                    if torch.is_tensor(v) and v.is_floating_point()]
        return out + ([] if self.feedback is None else [self.feedback])

    def _non_finite(self) -> str | None:
        """The name of the first non-finite parameter, feedback or optimiser state, else None."""
        for target in self.order:
            if not torch.isfinite(self.params[target]).all():
                return target.value
            for key, value in self.optimizer.state.get(self.params[target], {}).items():
                if torch.is_tensor(value) and value.is_floating_point() and not torch.isfinite(value).all():
                    return f"the optimiser's {key} of {target.value}"
        if self.feedback is not None and not torch.isfinite(self.feedback).all():
            return "the feedback matrix"
        return None

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])


def _all_finite(tensors: list[torch.Tensor]) -> bool:
    """Whether every entry of every tensor is finite: one check over all of them (the per-tensor checks name the
    culprit only when this fails)."""
    if not tensors:
        return True
    flat = torch.cat([t.detach().reshape(-1) for t in tensors])
    return bool((flat * 0).sum() == 0)  # a finite x gives 0 * x = 0; NaN and ±Inf give NaN
