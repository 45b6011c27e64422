"""The brian2 backend looks neurons and rules up in tables keyed by the exact class.

Oracles: the refusal messages must name the refused class and the way out (``--backend torch``);
a neuron family added to the table by one entry (the current-based LIF) trains in brian2 exactly as in the torch backend (same spikes, updates to
1e-10), through the inner-stage traces that its two eligibility filters ask for.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from neuromorph.backends.brian2 import Brian2Backend, UnsupportedFeatureError, check_supported
from neuromorph.backends.brian2 import equations as eq
from neuromorph.backends.brian2.neurons import CUBA_LIF_CODE, NEURON_CODE
from neuromorph.backends.brian2.rules import RULE_CODE
from neuromorph.backends.torch import lower
from neuromorph.dynamics import ALIFParameters, CubaLIFParameters, LIFParameters, RateParameters
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
    assert set(NEURON_CODE) == {LIFParameters, ALIFParameters, RateParameters, CubaLIFParameters}
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


def test_current_based_lif_code_has_the_synaptic_stage_and_inner_traces():
    spec = NetworkSpec(N_IN, N_REC, N_OUT, CubaLIFParameters(v_th=0.5, t_ref=2e-3))
    low = lower(spec, torch.float64)
    k = eq.Constants(low.consts, spec, None, CUBA_LIF_CODE, RULE_CODE[EProp])
    a_syn, alpha = repr(spec.neuron.alpha_syn(spec.dt)), repr(spec.neuron.alpha(spec.dt))
    hidden = eq.hidden_code(k)
    assert f"isyn = {a_syn}*isyn + 1.0*(I_in + I_rec + bias)" in hidden  # brian2 reserves i
    assert f"v = {alpha}*v + 1.0*isyn - 0.5*zp" in hidden
    assert f"P_rec_s0 = {a_syn}*P_rec_s0 + 1.0*(zp)\nP_rec = {alpha}*P_rec + 1.0*(P_rec_s0)" in hidden
    assert f"P_s0 = {a_syn}*P_s0 + 1.0*(x)\nP = {alpha}*P + 1.0*(P_s0)" == eq.input_code(k)
    assert {"isyn : 1", "P_rec_s0 : 1", "P_b_s0 : 1"} <= set(eq.hidden_variables(k).splitlines())


@pytest.mark.parametrize("scaled", [False, True], ids=["paper", "input_scaling"])
def test_one_table_entry_lowers_a_new_family_exactly(scaled):
    """e-prop on the current-based LIF: brian2 (one NEURON_CODE entry) against torch, all targets."""
    assert NEURON_CODE[CubaLIFParameters] is CUBA_LIF_CODE
    neuron = CubaLIFParameters(v_th=0.5, t_ref=2e-3, input_scaling=scaled)
    spec = NetworkSpec(N_IN, N_REC, N_OUT, neuron, dt=1e-3)
    params, feedback, batches = problem(spec, LossKind.REGRESSION, seed=11)
    gain = 40 if scaled else 0.3  # the unscaled synaptic stage amplifies ~5x, the scaled one attenuates, the scaled one attenuates
    params = params._replace(w_in=gain * params.w_in, w_rec=gain * params.w_rec)
    rule = EProp(feedback=Feedback.RANDOM, mode=Mode.ONLINE, update_interval=100, targets=frozenset(Target))
    backend = Brian2Backend("numpy")
    try:
        assert_same(train_both(spec, rule, LossKind.REGRESSION, params, feedback, batches, backend))
    finally:
        backend.close()
