"""Dynamics analysis of trained and untrained networks: Lyapunov spectra and gradient flossing.

Pure torch on :mod:`neuromorph.network` parameters and :mod:`neuromorph.dynamics` steps; never
imports a backend (the README's layering).
"""

from neuromorph.analysis.flossing import FlossingSpec, flossing_loss, preflossing
from neuromorph.analysis.lyapunov import lyapunov_spectrum, rate_jacobians, rate_preactivations, spectrum_of_run

__all__ = [
    "FlossingSpec",
    "flossing_loss",
    "lyapunov_spectrum",
    "preflossing",
    "rate_jacobians",
    "rate_preactivations",
    "spectrum_of_run",
]
