"""docs/extending.md runs as written, and what it builds is right.

Every ``python`` block of the page is executed in order in one namespace (as a reader would paste
them). Then: e-prop on the page's softplus neuron equals autograd with the recurrent input detached
(float64, 1e-10 relative), and the page's sign e-prop equals an independent oracle, autograd of
:math:`\\sum_t c^t z^t` with :math:`c^t = s_\\mathrm{out}\\sum_{t'\\ge t}\\kappa^{t'-t}\\,\\mathrm{sign}(L^{t'})`
held constant (1e-10 relative).
"""

import re
from pathlib import Path

import pytest
import torch

from neuromorph.backends.torch import differentiable_run, lower
from neuromorph.dynamics import NEURONS
from neuromorph.plasticity import RULES, Target
from neuromorph.plasticity.losses import loss_value, output_error
from neuromorph.plasticity.traces import reverse_scan
from neuromorph.types import LossKind
from tests.helpers import max_rel_err

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


@pytest.fixture(scope="module")
def page():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 3, "docs/extending.md lost its examples"
    namespace: dict = {}
    try:
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), namespace)
        yield namespace
    finally:  # the page registers two families; leave the registries as the package ships them
        NEURONS.pop("softplus_rate", None)
        RULES.pop("sign_eprop", None)


def test_softplus_neuron_eprop_equals_autograd_with_stop_gradient(page):
    spec, params, batch = page["spec"], page["params"], page["batch"]
    leaves = {t: getattr(params, t.value).detach().clone().requires_grad_(True) for t in (Target.W_IN, Target.W_REC)}
    y, _ = differentiable_run(lower(spec, torch.float64), params._replace(**{t.value: v for t, v in leaves.items()}),
                              batch.inputs, stop_recurrent=True)
    wanted = torch.autograd.grad(loss_value(LossKind.REGRESSION, y, batch.targets, batch.mask), list(leaves.values()))
    for target, want in zip(leaves, wanted):
        assert want.abs().max() > 0
        assert max_rel_err(page["grads"][target], want) < 1e-10, target


def test_sign_eprop_equals_its_autograd_oracle(page):
    spec, params, batch = page["spec"], page["params"], page["batch"]
    low = lower(spec, torch.float64)
    w_in = params.w_in.detach().clone().requires_grad_(True)
    y, z = differentiable_run(low, params._replace(w_in=w_in), batch.inputs, stop_recurrent=True)
    delta = output_error(LossKind.REGRESSION, y.detach(), batch.targets, batch.mask)
    c = low.consts.s_out * reverse_scan(torch.sign(delta @ params.w_out), low.consts.kappa)
    (want,) = torch.autograd.grad((c * z).sum(), [w_in], retain_graph=True)
    got = page["sign_grads"][Target.W_IN]
    assert max_rel_err(got, want) < 1e-10
    # negative control: plain e-prop's update (signal L, not sign(L)) is a different update
    (plain,) = torch.autograd.grad(loss_value(LossKind.REGRESSION, y, batch.targets, batch.mask), [w_in])
    assert max_rel_err(got, plain) > 1e-2


def test_a_subclass_that_changes_step_is_refused_by_eprop(page):
    from neuromorph.errors import UnsupportedPairingError
    from neuromorph.network import NetworkSpec

    class Faster(page["SoftplusRate"]):  # changes the dynamics, states no eligibility for them
        def step(self, state, drive, dt, *, theta=None, membrane=None):
            return super().step(state, 2 * drive, dt)

    spec = NetworkSpec(3, 5, 2, Faster())
    rule = page["EProp"](targets=frozenset({Target.W_IN}))
    with pytest.raises(UnsupportedPairingError, match=r"rule 'eprop'.*Faster.*eligibility"):
        rule.check(spec)


def test_a_rule_without_an_online_form_is_refused_with_a_message(page):
    from dataclasses import dataclass

    from neuromorph.errors import ConfigError
    from neuromorph.plasticity import Rule, Temporal

    @dataclass(frozen=True)
    class DeclaresOnly(Rule):  # declarations but no computation
        reads: frozenset = frozenset()
        temporal: Temporal = Temporal.ONLINE
        targets: frozenset = frozenset({Target.W_IN})

    with pytest.raises(ConfigError, match=r"DeclaresOnly.*no online form"):
        page["train_sequence"](lower(page["spec"], torch.float64), page["params"], page["feedback"], DeclaresOnly(),
                               LossKind.REGRESSION, page["batch"], lambda grads: None)
    with pytest.raises(ConfigError, match="must subclass neuromorph.plasticity.Rule"):
        page["train_sequence"](lower(page["spec"], torch.float64), page["params"], page["feedback"], object(),
                               LossKind.REGRESSION, page["batch"], lambda grads: None)
