r"""BPTT's form in the torch backend: autograd through the same network step as every other rule.

The gradient of :math:`E + E_\mathrm{reg}` through the stored trajectory (``truncation = K``
detaches the state every K steps); see :class:`neuromorph.plasticity.BPTT`. It always records:
autograd keeps the whole history anyway.
"""

from __future__ import annotations

import torch

from neuromorph.backends.base import ApplyFn, Lowered, NetworkState, SequenceResult, masked_mean
from neuromorph.backends.torch.simulate import differentiable_run
from neuromorph.network import Parameters
from neuromorph.plasticity import BPTT
from neuromorph.plasticity.losses import loss_value
from neuromorph.types import LossKind, TrialBatch


def bptt_sequence(
    low: Lowered, params: Parameters, feedback: torch.Tensor, rule: BPTT, kind: LossKind, batch: TrialBatch,
    apply: ApplyFn, state: NetworkState, record: bool, generator: torch.Generator | None = None,
    carry: dict | None = None,
) -> SequenceResult:
    """One BPTT (or truncated BPTT) update over ``batch`` (``generator`` and ``carry`` are not read)."""
    targets = sorted(rule.targets, key=lambda t: t.value)
    leaves = {t.value: getattr(params, t.value).detach().requires_grad_(True) for t in targets}
    with torch.enable_grad():
        y, z = differentiable_run(low, params._replace(**leaves), batch.inputs, truncation=rule.truncation, state=state)
        task_loss = loss_value(kind, y, batch.targets, batch.mask)
        total = task_loss + rule.regularization.value(z, low.spec.dt)
        grads = torch.autograd.grad(total, list(leaves.values()))
    apply(dict(zip(targets, grads)))
    y, z = y.detach(), z.detach()
    return SequenceResult(float(task_loss.detach()), float(z.sum()), masked_mean(y, batch.mask), y, z, {})
