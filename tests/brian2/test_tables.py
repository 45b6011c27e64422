"""The brian2 backend looks neurons and rules up in tables keyed by the exact class.

Oracle: the refusal messages must name the refused class and the way out (``--backend torch``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from neuromorph.backends.brian2 import Brian2Backend, UnsupportedFeatureError, check_supported
from neuromorph.backends.brian2.neurons import NEURON_CODE
from neuromorph.backends.brian2.rules import RULE_CODE
from neuromorph.backends.torch import lower
from neuromorph.dynamics import ALIFParameters, LIFParameters, RateParameters
from neuromorph.network import NetworkSpec, Parameters
from neuromorph.plasticity import BPTT, RFLO, EProp
from tests.brian2.test_cross_backend import N_IN, N_OUT, N_REC

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
