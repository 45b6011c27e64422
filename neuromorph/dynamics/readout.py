r"""Leaky readout, integrated with norse's leaky-integrator step.

.. math::

    y_t = \kappa\, y_{t-1} + s_\mathrm{out} (W^\mathrm{out} z_t + b^\mathrm{out}),
    \qquad \kappa = e^{-\Delta t/\tau_\mathrm{out}}

with :math:`s_\mathrm{out} = 1-\kappa` (the tutorial code, ``output_scaling=True``)
or 1 (the paper's form). ``tau_out = 0`` gives the instantaneous readout
:math:`y_t = W^\mathrm{out} z_t + b^\mathrm{out}` (:math:`\kappa = 0`) of rate networks.
norse's ``li_box_feed_forward_step`` integrates
:math:`v \leftarrow v + \Delta t\,\tau^{-1}(v_\mathrm{leak} - v + I)`; with
:math:`\tau^{-1} = (1-\kappa)/\Delta t` this is exactly the exponential update
above, so we use it as is (and divide the drive by :math:`1-\kappa` when
``output_scaling`` is off).

References
----------
Bellec et al., Nat. Commun. 11:3625 (2020), Methods, "Readout".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from norse.torch.functional.leaky_integrator_box import (
    LIBoxParameters,
    LIBoxState,
    li_box_feed_forward_step,
)

from neuromorph.errors import ConfigError


@dataclass(frozen=True)
class ReadoutParameters:
    """``tau_out`` (s; 0 for an instantaneous readout) and ``output_scaling`` (drive times :math:`1-\\kappa`)."""

    tau_out: float = 20e-3
    output_scaling: bool = False

    def __post_init__(self) -> None:
        if not self.tau_out >= 0:
            raise ConfigError(f"ReadoutParameters.tau_out must be >= 0 seconds, got {self.tau_out!r}")

    def kappa(self, dt: float) -> float:
        """Readout decay per step, :math:`e^{-\\Delta t/\\tau_\\mathrm{out}}`."""
        return math.exp(-dt / self.tau_out) if self.tau_out > 0 else 0.0

    def drive_scale(self, dt: float) -> float:
        """:math:`s_\\mathrm{out}`."""
        return 1.0 - self.kappa(dt) if self.output_scaling else 1.0


def readout_step(p: ReadoutParameters, y: torch.Tensor, drive: torch.Tensor, dt: float) -> torch.Tensor:
    """:math:`y_t` from :math:`y_{t-1}` and the drive :math:`W^\\mathrm{out} z_t + b^\\mathrm{out}`."""
    one_minus_kappa = 1.0 - p.kappa(dt)
    if one_minus_kappa == 1.0:  # instantaneous readout: no state to integrate
        return drive
    li = LIBoxParameters(tau_mem_inv=one_minus_kappa / dt, v_leak=0.0)  # python floats: no float32 rounding
    scaled = drive * (p.drive_scale(dt) / one_minus_kappa)
    y_new, _ = li_box_feed_forward_step(scaled, LIBoxState(y), li, dt)
    return y_new
