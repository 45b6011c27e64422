r"""Integer arithmetic of neuromorphic chips, as pure torch functions.

Every value here is an integer held in a float tensor (exact up to :math:`2^{53}`
in float64, :math:`2^{24}` in float32), so the same network code runs
quantised and unquantised. A fixed-point value is :math:`x = k\,\Delta` with an
integer :math:`k` in a range set by a bit width (docs/hardware.md):

.. math::

    k = \mathrm{clip}\big(R(x/\Delta),\ k_\min,\ k_\max\big), \qquad
    [k_\min, k_\max] = [-(2^b - 1),\ 2^b - 1] \ \text{(sign + magnitude)}
    \ \text{or}\ [0,\ 2^b - 1] \ \text{(unsigned)}

``b`` counts magnitude bits, without the sign (Lava's convention: an 8-bit
signed weight has 9 bits in all). The rounding :math:`R` is nearest (ties to
even, ``torch.round``), or stochastic: :math:`R(u) = \lfloor u + \xi \rfloor`,
:math:`\xi \sim U[0, 1)` from an explicit generator, so that
:math:`E[R(u)] = u` (Davies et al. 2018, p. 91; Lava ``connection.py``).

Decays are integer operations, not multiplications by :math:`\alpha`:

* ``mul_shift`` (Loihi, Lava ``lif/models.py``):
  :math:`D(v) = \mathrm{sgn}(v)\,\lfloor |v|\,(2^{b} - d) / 2^{b} \rfloor`,
  :math:`d = \mathrm{round}(2^{b}(1-\alpha))` — truncation toward zero;
* ``bitshift`` (Xylo, Rockpool docs): :math:`D(v) = v - (v \gg n)`,
  :math:`n = \mathrm{round}(\log_2(\tau/\Delta t))`, with an arithmetic
  (floor) shift.

Straight-through: :func:`straight_through` keeps the gradient of the identity, so
BPTT can train through quantised forward passes (docs/hardware.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from neuromorph.errors import ConfigError

Uniform = Callable[[torch.Tensor], torch.Tensor]
"""Draws :math:`\\xi \\sim U[0,1)` shaped like its argument."""


def int_range(bits: int, signed: bool) -> tuple[int, int]:
    """``(k_min, k_max)`` for ``bits`` magnitude bits, sign + magnitude when ``signed``."""
    top = 2**bits - 1
    return (-top if signed else 0), top


def uniform_from(generator: torch.Generator | None) -> Uniform:
    """:math:`\\xi \\sim U[0,1)` from ``generator`` (one draw per element)."""
    return lambda like: torch.rand(like.shape, generator=generator, dtype=like.dtype)


def round_nearest(u: torch.Tensor) -> torch.Tensor:
    """Round to the nearest integer, ties to even."""
    return torch.round(u)


def round_stochastic(u: torch.Tensor, uniform: Uniform) -> torch.Tensor:
    r""":math:`\lfloor u + \xi \rfloor`: up with probability equal to the fractional part."""
    return torch.floor(u + uniform(u))


def round_with(mode: str, u: torch.Tensor, uniform: Uniform | None) -> torch.Tensor:
    """``mode`` is ``"nearest"`` or ``"stochastic"`` (needs ``uniform``)."""
    if mode == "nearest":
        return round_nearest(u)
    if mode == "stochastic":
        if uniform is None:
            raise ConfigError("stochastic rounding needs a random generator")
        return round_stochastic(u, uniform)
    raise ConfigError(f"rounding must be 'nearest' or 'stochastic', got {mode!r}")


def saturate(k: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """Clip integers to ``[lo, hi]``."""
    return torch.clamp(k, lo, hi)


def wrap(k: torch.Tensor, bits: int) -> torch.Tensor:
    """Two's-complement wrap of integers to ``bits`` magnitude bits: ``[-2^b, 2^b - 1]``."""
    span = 2.0 ** (bits + 1)
    return torch.remainder(k + 2.0**bits, span) - 2.0**bits


def to_grid(
    x: torch.Tensor, step: float | torch.Tensor, bits: int, signed: bool, mode: str = "nearest",
    uniform: Uniform | None = None,
) -> torch.Tensor:
    """Integers ``k`` of :math:`x \\approx k\\Delta` (rounded, then saturated)."""
    lo, hi = int_range(bits, signed)
    return saturate(round_with(mode, x / step, uniform), lo, hi)


def quantize(
    x: torch.Tensor, step: float | torch.Tensor, bits: int, signed: bool, mode: str = "nearest",
    uniform: Uniform | None = None,
) -> torch.Tensor:
    """:math:`\\Delta \\cdot \\mathrm{clip}(R(x/\\Delta))`, in the units of ``x``."""
    return to_grid(x, step, bits, signed, mode, uniform) * step


def straight_through(x: torch.Tensor, quantized: torch.Tensor) -> torch.Tensor:
    """``quantized`` in the forward pass, the identity's gradient in the backward pass."""
    if not (torch.is_grad_enabled() and x.requires_grad):
        return quantized
    return x + (quantized - x).detach()


def decay_constant(alpha: float, bits: int) -> int:
    """Loihi's 12-bit decay ``d = round(2^b (1 - alpha))`` (Lava ``dv``/``du``)."""
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"a decay factor must be in [0, 1], got {alpha}")
    return round(2**bits * (1.0 - alpha))


def mul_shift_decay(k: torch.Tensor, d: int, bits: int) -> torch.Tensor:
    """:math:`\\mathrm{sgn}(k)\\lfloor |k|(2^b - d)/2^b\\rfloor` (Lava's fixed-point LIF)."""
    return torch.sign(k) * torch.floor(torch.abs(k) * (2**bits - d) / 2**bits)


def shift_constant(tau: float, dt: float) -> int:
    """Xylo's ``dash = round(log2(tau / dt))`` (at least 1)."""
    if not tau > 0:
        raise ConfigError(f"a bit-shift decay needs tau > 0, got {tau}")
    return max(1, round(math.log2(tau / dt)))


def bitshift_decay(k: torch.Tensor, n: int) -> torch.Tensor:
    """:math:`k - (k \\gg n)`, with an arithmetic shift (floor division by :math:`2^n`)."""
    return k - torch.floor(k / 2**n)


def shared_exponent(max_abs: float, bits: int, base: float, exp_range: tuple[int, int]) -> int:
    r"""Smallest :math:`e` in ``exp_range`` with :math:`\max|w| \le (2^b - 1)\,\mathrm{base}\,2^e`.

    A matrix whose largest weight does not fit even at the top exponent saturates
    there; an all-zero matrix gets the lowest exponent (the finest grid).
    """
    lo, hi = exp_range
    if max_abs <= 0:
        return lo
    need = math.ceil(math.log2(max_abs / ((2**bits - 1) * base)) - 1e-12)
    return int(min(max(need, lo), hi))


def snap_mantissa_exponent(value: float, mant_bits: int) -> tuple[float, int, int]:
    r"""Nearest :math:`m\,2^e` to ``value`` with :math:`1 \le |m| \le 2^{b}-1`; returns ``(m 2^e, m, e)``.

    The exponent is left free: it absorbs the conversion between model units and
    chip units (trace and weight LSBs), which depends on the deployment. Only the
    mantissa width limits how closely a learning rate can be represented.
    """
    if value == 0 or not math.isfinite(value):
        raise ConfigError(f"a learning rate must be finite and non-zero, got {value}")
    top = 2**mant_bits - 1
    best = (math.inf, 0.0, 0, 0)
    e0 = math.floor(math.log2(abs(value))) - mant_bits
    for e in range(e0 - 1, e0 + 3):
        m = round(abs(value) / 2.0**e)
        if 1 <= m <= top:
            snapped = math.copysign(m * 2.0**e, value)
            err = abs(snapped - value)
            if err < best[0]:
                best = (err, snapped, int(math.copysign(m, value)), e)
    return best[1], best[2], best[3]
