"""The brian2 backend looks neurons and rules up in tables keyed by the exact class.

Oracles: the refusal messages must name the refused class and the way out (``--backend torch``);
a neuron family added to the table by one entry (a current-based LIF stand-in, defined here with
its own torch step) trains in brian2 exactly as in the torch backend (same spikes, updates to
1e-10), through the inner-stage traces that its two eligibility filters ask for.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, NamedTuple

import pytest
import torch

from neuromorph.backends.brian2 import Brian2Backend, UnsupportedFeatureError, check_supported
from neuromorph.backends.brian2 import equations as eq
from neuromorph.backends.brian2.neurons import CUBA_LIF_CODE, NEURON_CODE
from neuromorph.backends.brian2.rules import RULE_CODE
from neuromorph.backends.torch import lower
from neuromorph.dynamics import ALIFParameters, Eligibility, Filter, LIFParameters, Neuron, RateParameters
from neuromorph.dynamics.lif import _fire
from neuromorph.network import NetworkSpec, Parameters
from neuromorph.plasticity import BPTT, RFLO, EProp, Feedback, Mode, Target
from neuromorph.types import LossKind
from tests.brian2.test_cross_backend import N_IN, N_OUT, N_REC, assert_same, problem, train_both

BRIAN2 = Path(__file__).resolve().parents[2] / "neuromorph" / "backends" / "brian2"


class MyLIF(LIFParameters):
    """A user's LIF subclass: it may step differently, so brian2 must not lower it as LIF."""


@dataclass(frozen=True)
class MyEProp(EProp):
    """A rule subclass from another file: not e-prop's brian2 code until it has its own entry."""


def test_tables_are_keyed_by_the_exact_classes():
    assert set(NEURON_CODE) == {LIFParameters, ALIFParameters, RateParameters}
    assert set(RULE_CODE) == {EProp, RFLO}


def test_unknown_neuron_is_refused_naming_it_and_the_fix():
    spec = NetworkSpec(N_IN, N_REC, N_OUT, MyLIF())
    with pytest.raises(UnsupportedFeatureError, match=r"neuron MyLIF \(a subclass of LIFParameters\).*--backend torch"):
        check_supported(spec, EProp(), None, "numpy")
    params = Parameters(torch.zeros(N_REC, N_IN), torch.zeros(N_REC, N_REC), torch.zeros(N_OUT, N_REC),
                        torch.zeros(N_REC), torch.zeros(N_OUT))
    with pytest.raises(UnsupportedFeatureError, match="MyLIF"):  # also a forward simulation, before any build
        Brian2Backend("numpy").simulate(lower(spec, torch.float64), params, torch.zeros(5, 1, N_IN))


@pytest.mark.parametrize("rule, needle", [(MyEProp(), r"'eprop' rule \(.*test_tables\.MyEProp"),
                                          (BPTT(), r"'bptt' rule \(neuromorph\.plasticity\.bptt\.BPTT")])
def test_unknown_rule_is_refused_naming_it_and_the_fix(rule, needle):
    with pytest.raises(UnsupportedFeatureError, match=needle + ".*--backend torch"):
        check_supported(NetworkSpec(N_IN, N_REC, N_OUT), rule, None, "numpy")


def test_no_isinstance_dispatch_in_the_brian2_lowering():
    """Neuron and rule knowledge comes from the tables and the objects, never from isinstance chains."""
    for path in BRIAN2.glob("*.py"):
        calls = [n for n in ast.walk(ast.parse(path.read_text()))
                 if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "isinstance"]
        assert not calls, f"{path.name}:{calls[0].lineno} dispatches with isinstance"


# ------------------------------------------------------------------------------------------ a new family
class CubaState(NamedTuple):
    v: torch.Tensor
    z: torch.Tensor
    r: torch.Tensor
    i: torch.Tensor


@dataclass(frozen=True)
class StandInCubaLIF(Neuron):
    r"""A current-based LIF, defined here: :math:`i_t = \alpha_s i_{t-1} + I_t`,
    :math:`v_t = \alpha v_{t-1} + s i_t - v_\mathrm{th} z_{t-1}`, LIF's threshold and refractoriness."""

    tau_mem: float = 20e-3
    tau_syn: float = 5e-3
    v_th: float = 0.5
    t_ref: float = 2e-3
    pd_height: float = 0.3
    pd_width: float = 1.0
    state_names: ClassVar[tuple[str, ...]] = ("v", "z", "r", "i")

    def alpha(self, dt):
        return float(torch.exp(torch.tensor(-dt / self.tau_mem, dtype=torch.float64)))

    def alpha_syn(self, dt):
        return float(torch.exp(torch.tensor(-dt / self.tau_syn, dtype=torch.float64)))

    def n_ref(self, dt):
        return int(round(self.t_ref / dt))

    def initial_state(self, batch, n, dtype=torch.float32):
        return CubaState(*(torch.zeros(batch, n, dtype=dtype) for _ in range(4)))

    def step(self, state, drive, dt, *, theta=None, membrane=None):
        i = self.alpha_syn(dt) * state.i + drive
        v = self.alpha(dt) * state.v + 1.0 * i - self.v_th * state.z.detach()
        threshold = torch.as_tensor(self.v_th, dtype=v.dtype) if theta is None else self.v_th + theta
        return _fire(self, v, threshold, state.r, dt, lambda z, r: CubaState(v, z, r, i))

    def eligibility(self, dt, n, dtype):
        return Eligibility((Filter(self.alpha_syn(dt), 1.0), Filter(self.alpha(dt), 1.0)))

    def membrane_update(self, dt):
        return Filter(self.alpha(dt), 1.0)


def test_current_based_lif_code_has_the_synaptic_stage_and_inner_traces():
    spec = NetworkSpec(N_IN, N_REC, N_OUT, StandInCubaLIF())
    low = lower(spec, torch.float64)
    k = eq.Constants(low.consts, spec, None, CUBA_LIF_CODE, RULE_CODE[EProp])
    a_syn, alpha = repr(spec.neuron.alpha_syn(spec.dt)), repr(spec.neuron.alpha(spec.dt))
    hidden = eq.hidden_code(k)
    assert f"isyn = {a_syn}*isyn + 1.0*(I_in + I_rec + bias)" in hidden  # brian2 reserves i
    assert f"v = {alpha}*v + 1.0*isyn - 0.5*zp" in hidden
    assert f"P_rec_s0 = {a_syn}*P_rec_s0 + 1.0*(zp)\nP_rec = {alpha}*P_rec + 1.0*(P_rec_s0)" in hidden
    assert f"P_s0 = {a_syn}*P_s0 + 1.0*(x)\nP = {alpha}*P + 1.0*(P_s0)" == eq.input_code(k)
    assert {"isyn : 1", "P_rec_s0 : 1", "P_b_s0 : 1"} <= set(eq.hidden_variables(k).splitlines())


def test_one_table_entry_lowers_a_new_family_exactly(monkeypatch):
    """e-prop on the stand-in current-based LIF: brian2 (one NEURON_CODE entry) against torch, all targets."""
    monkeypatch.setitem(NEURON_CODE, StandInCubaLIF, CUBA_LIF_CODE)
    spec = NetworkSpec(N_IN, N_REC, N_OUT, StandInCubaLIF(), dt=1e-3)
    params, feedback, batches = problem(spec, LossKind.REGRESSION, seed=11)
    params = params._replace(w_in=0.3 * params.w_in, w_rec=0.3 * params.w_rec)  # the synaptic stage amplifies ~5x
    rule = EProp(feedback=Feedback.RANDOM, mode=Mode.ONLINE, update_interval=100, targets=frozenset(Target))
    backend = Brian2Backend("numpy")
    try:
        assert_same(train_both(spec, rule, LossKind.REGRESSION, params, feedback, batches, backend))
    finally:
        backend.close()
