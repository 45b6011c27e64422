"""Rate e-prop through detach = the explicit trace rule, for the network of Zhang, Liu & Liu's initial-gain
study (docs/gain.md, "Rules"; float64, tolerance 1e-10).

tests/test_linear_rate.py already checks that the package's RFLO("leak") equals autograd with
the recurrent input detached for a leaky tanh unit with a filtered readout. Here: the study's
own network (ReLU, instantaneous readout, alpha = 0.5), the explicit three-factor rule written
out by hand as the oracle (eps <- alpha eps + (1-alpha) f(h_pre), e = f'(h_post) eps,
symmetric L), both losses, and the second truncation: detaching the whole state is the
alpha = 0 trace (one step). Both truncations have their own names in the sweep's rule table.
"""

from __future__ import annotations

import pytest
import torch

from neuromorph.backends.torch import differentiable_run, lower, train_sequence
from neuromorph.config import resolve
from neuromorph.dynamics import Activation, RateParameters, ReadoutParameters
from neuromorph.network import NetworkSpec, Parameters
from neuromorph.plasticity import BPTT, RFLO, Feedback, Target
from neuromorph.plasticity.losses import loss_value, output_error
from neuromorph.sweep.spec import RULES
from neuromorph.types import LossKind, TrialBatch
from tests.helpers import max_rel_err

D = torch.float64
N, M, O, T, B = 6, 3, 3, 25, 4
HIDDEN = (Target.W_IN, Target.W_REC, Target.BIAS)
ALL = frozenset({Target.W_IN, Target.W_REC, Target.W_OUT, Target.BIAS, Target.B_OUT})


def _problem(kind: LossKind, seed=0):
    spec = NetworkSpec(M, N, O, RateParameters(tau=0.1, activation=Activation.RELU), ReadoutParameters(tau_out=0.0),
                       dt=0.05)
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=D)
    params = Parameters(w_in=r(N, M), w_rec=1.5 * r(N, N) / N**0.5, w_out=r(O, N) / N**0.5, bias=0.3 * r(N),
                        b_out=0.1 * r(O))
    targets = r(T, B, O) if kind is LossKind.REGRESSION else torch.randint(0, O, (T, B), generator=g)
    batch = TrialBatch(r(T, B, M), targets, (torch.rand(T, B, generator=g) < 0.7).to(D))
    return spec, params, batch


def _explicit_rule(spec, params, batch, kind, alpha_trace: bool) -> dict[Target, torch.Tensor]:
    """The study's e-prop as a three-factor rule (docs/gain.md), written out: one trace per synapse,
    symmetric learning signal."""
    a = spec.neuron.leak(spec.dt)
    alpha = 1.0 - a if alpha_trace else 0.0
    u = torch.zeros(B, N, dtype=D)
    r = torch.zeros(B, N, dtype=D)
    eps = {Target.W_IN: torch.zeros(B, N, M, dtype=D), Target.W_REC: torch.zeros(B, N, N, dtype=D),
           Target.BIAS: torch.zeros(B, N, dtype=D)}
    grad = {t: torch.zeros_like(getattr(params, t.value)) for t in HIDDEN}
    for t in range(T):
        x = batch.inputs[t]
        pre = {Target.W_IN: x, Target.W_REC: r, Target.BIAS: None}
        for target in HIDDEN:  # eps <- alpha eps + (1 - alpha_leak) pre  (pre = x_t, f(h_{t-1}), 1)
            drive = a * (pre[target].unsqueeze(1).expand_as(eps[target]) if pre[target] is not None else 1.0)
            eps[target] = alpha * eps[target] + drive
        u = (1 - a) * u + a * (x @ params.w_in.T + r @ params.w_rec.T + params.bias)
        r = torch.relu(u)
        y = r @ params.w_out.T + params.b_out
        delta = output_error(kind, y, batch.targets[t], batch.mask[t])  # dE/dy_t (B, O)
        post = (u > 0).to(D) * (delta @ params.w_out)  # f'(h_j) L_j with L = W_out^T delta
        for target in HIDDEN:
            e = post.unsqueeze(-1) * eps[target] if eps[target].dim() == 3 else post * eps[target]
            grad[target] += e.sum(0)
    return grad


def _autograd(spec, params, batch, kind, **detach) -> dict[Target, torch.Tensor]:
    leaves = Parameters(*(None if p is None else p.detach().clone().requires_grad_(True) for p in params))
    y, _ = differentiable_run(lower(spec, D), leaves, batch.inputs, **detach)
    loss = loss_value(kind, y, batch.targets, batch.mask)
    return dict(zip(HIDDEN, torch.autograd.grad(loss, [getattr(leaves, t.value) for t in HIDDEN])))


def _package(spec, params, batch, kind, rule) -> dict[Target, torch.Tensor]:
    got = {}
    train_sequence(lower(spec, D), params, params.w_out.T.clone(), rule, kind, batch, got.update)
    return got


@pytest.mark.parametrize("kind", [LossKind.REGRESSION, LossKind.CLASSIFICATION])
def test_detaching_the_recurrent_input_is_the_explicit_leak_trace_rule(kind):
    spec, params, batch = _problem(kind)
    oracle = _explicit_rule(spec, params, batch, kind, alpha_trace=True)
    auto = _autograd(spec, params, batch, kind, stop_recurrent=True)
    rule = _package(spec, params, batch, kind, RFLO(feedback=Feedback.SYMMETRIC, decay="leak", targets=ALL))
    for target in HIDDEN:
        assert max_rel_err(auto[target], oracle[target]) < 1e-10, target
        assert max_rel_err(rule[target], oracle[target]) < 1e-10, target


@pytest.mark.parametrize("kind", [LossKind.REGRESSION, LossKind.CLASSIFICATION])
def test_detaching_the_whole_state_is_the_one_step_trace(kind):
    spec, params, batch = _problem(kind, seed=1)
    oracle = _explicit_rule(spec, params, batch, kind, alpha_trace=False)
    auto = _autograd(spec, params, batch, kind, truncation=1)
    one_step = _package(spec, params, batch, kind, RFLO(feedback=Feedback.SYMMETRIC, decay=0.0,
                                                        targets=ALL))
    tbptt = _package(spec, params, batch, kind, BPTT(truncation=1, targets=ALL))
    for target in HIDDEN:
        assert max_rel_err(auto[target], oracle[target]) < 1e-10, target
        assert max_rel_err(one_step[target], oracle[target]) < 1e-10, target
        assert max_rel_err(tbptt[target], oracle[target]) < 1e-10, target
    leak = _explicit_rule(spec, params, batch, kind, alpha_trace=True)
    assert max_rel_err(leak[Target.W_REC], oracle[Target.W_REC]) > 1e-3  # the two truncations differ


def test_the_sweep_names_the_two_truncations_differently():
    base = {"task": {"name": "romo"}, "network": {"n_rec": 4, "neuron": {"model": "rate", "tau": 0.1,
                                                                      "activation": "relu"}}}
    eprop = resolve({**base, "rule": RULES["eprop"]}).rule
    one_step = resolve({**base, "rule": RULES["eprop_1step"]}).rule
    assert (eprop.name, eprop.decay, eprop.feedback) == ("rflo", "leak", Feedback.SYMMETRIC)
    assert (one_step.name, one_step.decay, one_step.feedback) == ("rflo", 0.0, Feedback.SYMMETRIC)
