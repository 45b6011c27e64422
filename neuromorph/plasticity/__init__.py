"""Three-factor plasticity: rules that declare what they read and compute their traces, eligibility and updates."""

from neuromorph.plasticity.base import (
    RULES,
    Read,
    Rule,
    RuleContext,
    Scope,
    Signal,
    StepSignals,
    Target,
    Teaching,
    Temporal,
)
from neuromorph.plasticity.bptt import BPTT
from neuromorph.plasticity.contrastive import ClassicalContrastive, Contrastive
from neuromorph.plasticity.eprop import EProp, Feedback, Mode
from neuromorph.plasticity.losses import RateRegularization
from neuromorph.plasticity.optim import Learner, OptimizerName, OptimizerSpec
from neuromorph.plasticity.reward import RewardEProp
from neuromorph.plasticity.rflo import RFLO

__all__ = [
    "BPTT",
    "RFLO",
    "RULES",
    "ClassicalContrastive",
    "Contrastive",
    "EProp",
    "Feedback",
    "Learner",
    "Mode",
    "OptimizerName",
    "OptimizerSpec",
    "RateRegularization",
    "Read",
    "RewardEProp",
    "Rule",
    "RuleContext",
    "Scope",
    "Signal",
    "StepSignals",
    "Target",
    "Teaching",
    "Temporal",
]
