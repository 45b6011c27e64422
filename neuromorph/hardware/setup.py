"""From a run's ``[hardware]`` table to a checked profile and its arithmetic, before any simulation."""

from __future__ import annotations

from dataclasses import dataclass

from neuromorph.hardware.locality import Report, assess
from neuromorph.hardware.numerics import ChipNumerics, chip_numerics
from neuromorph.hardware.profile import HardwareProfile, load_profile


@dataclass
class HardwareSetup:
    """The profile, the setup check's report, and the arithmetic (None for the ideal profile)."""

    profile: HardwareProfile
    report: Report
    numerics: ChipNumerics | None

    @property
    def on_chip(self) -> bool:
        return self.report.mode == "on_chip"


def _load_and_check(spec) -> tuple[HardwareProfile, Report]:
    hw = spec.hardware
    profile = load_profile(hw.profile, dict(hw.override))
    return profile, assess(profile, hw.mode, spec.rule, spec.network, spec.optimizer, spec.task.n_steps)


def check_run(spec) -> Report:
    """The setup check of a :class:`~neuromorph.config.RunSpec` with a ``[hardware]`` table."""
    return _load_and_check(spec)[1]


def prepare(spec) -> HardwareSetup:
    """Load, check (raising :class:`LocalityError` or :class:`HardwareProfileError`) and resolve."""
    hw = spec.hardware
    profile, report = _load_and_check(spec)
    report.raise_if_rejected()
    numerics = chip_numerics(profile, spec.network.neuron, spec.network.dt, hw.mode, spec.train.seed, hw.rounding)
    return HardwareSetup(profile, report, numerics)
