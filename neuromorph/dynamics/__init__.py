"""Neuron models: one :class:`Neuron` interface, parameters as frozen data, pure step functions over explicit state."""

from neuromorph.dynamics.alif import ALIFParameters, ALIFState, alif_initial_state, alif_step
from neuromorph.dynamics.cuba_lif import CubaLIFParameters, CubaLIFState, cuba_lif_initial_state, cuba_lif_step
from neuromorph.dynamics.energy import EnergyRateParameters, EnergyState, FilteredLIFParameters, FilteredLIFState
from neuromorph.dynamics.lif import LIFParameters, LIFState, lif_initial_state, lif_step
from neuromorph.dynamics.neuron import NEURONS, Eligibility, Filter, Neuron, neuron_class, require
from neuromorph.dynamics.rate import Activation, RateParameters, RateState, rate_initial_state, rate_step
from neuromorph.dynamics.readout import ReadoutParameters, readout_step
from neuromorph.dynamics.surrogate import pseudo_derivative, spike

__all__ = [
    "NEURONS",
    "ALIFParameters",
    "ALIFState",
    "Activation",
    "CubaLIFParameters",
    "CubaLIFState",
    "Eligibility",
    "EnergyRateParameters",
    "EnergyState",
    "Filter",
    "FilteredLIFParameters",
    "FilteredLIFState",
    "LIFParameters",
    "LIFState",
    "Neuron",
    "RateParameters",
    "RateState",
    "ReadoutParameters",
    "alif_initial_state",
    "alif_step",
    "cuba_lif_initial_state",
    "cuba_lif_step",
    "lif_initial_state",
    "lif_step",
    "neuron_class",
    "pseudo_derivative",
    "rate_initial_state",
    "rate_step",
    "readout_step",
    "require",
    "spike",
]
