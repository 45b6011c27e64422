"""Sweeps: a grid of training runs on dask.distributed, one HDF5 file per run, and their report.

``sweep → experiment`` (the README's layering): a run is :func:`neuromorph.experiment.train` plus
Lyapunov spectra and optional pre-flossing from :mod:`neuromorph.analysis`.
"""

from neuromorph.sweep.report import summarise, sweep_report
from neuromorph.sweep.run import SweepResult, read_results, run_point, run_sweep
from neuromorph.sweep.spec import RULES, LyapunovSpec, RunPoint, SweepSpec, load_sweep

__all__ = [
    "RULES",
    "LyapunovSpec",
    "RunPoint",
    "SweepResult",
    "SweepSpec",
    "load_sweep",
    "read_results",
    "run_point",
    "run_sweep",
    "summarise",
    "sweep_report",
]
