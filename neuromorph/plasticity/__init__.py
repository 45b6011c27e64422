"""Three-factor plasticity: rule declarations and the traces they keep."""

from neuromorph.plasticity.base import Read, Rule, Scope, Signal, Target, Temporal
from neuromorph.plasticity.bptt import BPTT
from neuromorph.plasticity.eprop import EProp, Feedback, Mode
from neuromorph.plasticity.losses import RateRegularization
from neuromorph.plasticity.optim import Learner, OptimizerName, OptimizerSpec
from neuromorph.plasticity.rflo import RFLO

__all__ = [
    "BPTT",
    "RFLO",
    "EProp",
    "Feedback",
    "Learner",
    "Mode",
    "OptimizerName",
    "OptimizerSpec",
    "RateRegularization",
    "Read",
    "Rule",
    "Scope",
    "Signal",
    "Target",
    "Temporal",
]
