r"""Compiled time loops (numba) for the torch backend's factored path: the same numbers, without the interpreter.

The per-step Python loop of :func:`~neuromorph.backends.torch.train.forward_pass` runs about 40 small
torch operations per step; at batch 1 their dispatch, not their arithmetic, is the cost. Here the loop
is one compiled function for the spiking families (LIF, ALIF, CUBA LIF) and one for rate units,
registered by neuron class in :data:`FORWARD`, and what is a product over
time runs outside it:

* the input drive of every step is one matrix product before the loop,
  :math:`X = x W^{\mathrm{in}\top}` (T B × n_in by n_in × n);
* inside the loop the recurrent drive is **event-driven**: :math:`\sum_i W^\mathrm{rec}_{ji} z^{t-1}_i`
  adds the columns of the neurons that spiked (spikes are 0 or 1), then the membrane, threshold,
  refractory count, pseudo-derivative and readout of :mod:`neuromorph.dynamics.lif` and
  :mod:`neuromorph.dynamics.readout`, expression for expression;
* e-prop's presynaptic traces are linear filters :math:`F_t = d F_{t-1} + s u_t` (:func:`causal_filter`)
  and the factored update's learning-signal filter an anti-causal one, :math:`G_t = q_t + d G_{t+1}`
  (:func:`anticausal_filter`), each one compiled loop over all channels.

Semantics are today's: the same reset one step after the spike, refractoriness, pseudo-derivative
(Bellec et al. 2020, Methods), readout and time indices. In float64 the results equal the torch loop's
to rounding (the sums run in another order: ``tests/test_compiled.py`` holds them to 1e-12). Kernels are
compiled on first use and cached on disk (numba's ``cache=True``) in the user's cache folder,
``$XDG_CACHE_HOME/neuromorph/numba`` (``~/.cache/neuromorph/numba``), unless ``NUMBA_CACHE_DIR`` says
otherwise; a compile that has no cache yet (a few seconds) says so on stderr before it starts.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from neuromorph.dynamics import Activation, ALIFParameters, CubaLIFParameters, LIFParameters, RateParameters
from neuromorph.hardware.quantize import int_range

#: where compiled kernels are cached (read by numba when it is first imported)
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "neuromorph" / "numba"
os.environ.setdefault("NUMBA_CACHE_DIR", str(CACHE_DIR))

try:  # numba is a dependency; without it the torch loop runs
    import numba
except ImportError:  # pragma: no cover - exercised only without numba
    numba = None

_ANNOUNCED: set[str] = set()


def available() -> bool:
    """Whether the compiled kernels can run here."""
    return numba is not None


def _announce(name: str) -> None:
    """Say, before it starts, that a kernel with no cache yet will compile (a first run is not a silent wait)."""
    if name in _ANNOUNCED:
        return
    _ANNOUNCED.add(name)
    try:  # numba's cache index of the kernel (private attributes: if they move, say it anyway)
        cached = Path(_KERNELS[name]._cache._cache_file._index_path).exists()
    except AttributeError:
        cached = False
    if not cached:
        where = os.environ["NUMBA_CACHE_DIR"]
        print(f"neuromorph: compiling the {name} kernel once (a few seconds; cached in {where})", file=sys.stderr)


def _jit(fn, inline: bool = False):
    """Compile ``fn`` (cached on disk); ``inline``: into its callers, so a per-step function costs no call."""
    if numba is None:
        return fn
    return numba.njit(cache=True, nogil=True, inline="always" if inline else "never")(fn)


# ----------------------------------------------------------------------------------------------- kernels
def _spiking_step(ev_idx, ev_val, Xt, dense, w_in_t, w_rec_t, bias, theta, beta, k, syn, adaptive, v, zp, r, cur, a,
                  m, spk, n_spk, z, psi, vout):
    r"""One step of one LIF, ALIF or CUBA LIF sequence in place on its state ``v, zp, r, cur, a`` (each (n,); ``m`` is
    scratch); writes ``z``, ``psi`` and ``vout`` (the membrane before the reset) and returns the number of spikes,
    whose indices it leaves in ``spk[:count]`` (on entry, ``spk[:n_spk]`` are the neurons that spiked at t-1).

    The drive :math:`m_t = W^\mathrm{in} x_t + W^\mathrm{rec} z_{t-1} + b` adds the rows of the transposed weights
    (contiguous) of the step's input events ``ev_idx, ev_val`` and of the neurons that spiked (**event-driven**:
    zeros add nothing), or, ``dense``, takes :math:`W^\mathrm{in} x_t` precomputed as ``Xt``. CUBA (``syn``):
    :math:`i_t = \alpha_s i_{t-1} + s_s m_t` drives the membrane instead of :math:`m_t`; ALIF (``adaptive``):
    :math:`a_t = \rho a_{t-1} + z_{t-1}`, :math:`A_t = v_\mathrm{th} + \beta a_t + \theta`, else
    :math:`A = v_\mathrm{th} + \theta`. Then :math:`v_t = \alpha v_{t-1} + s m_t - v_\mathrm{th} z_{t-1}`,
    :math:`z_t = H(v_t - A_t)[r_{t-1} = 0]`,
    :math:`\psi_t = (\gamma/v_\mathrm{th})\max(0, 1 - |v_t - A_t|/(\delta v_\mathrm{th}))[r_{t-1} = 0]` and the
    refractory count. ``k`` holds the scalars ``(alpha, s, v_th, height, width, n_ref, alpha_s, s_s, rho)`` and then
    the membrane arithmetic of :func:`membrane_constants` (mode 0: the float update above; otherwise a chip's,
    :func:`_chip_membrane`).
    """
    n = v.shape[0]
    zero = v.dtype.type(0.0)
    one = v.dtype.type(1.0)
    alpha, s, v_th, height, width, n_ref, alpha_s, s_s, rho = k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8]
    exact = k[9] == zero
    inv_width, peak = one / (width * v_th), height / v_th
    for j in range(n):
        m[j] = Xt[j] + bias[j] if dense else bias[j]
    for e in range(ev_idx.shape[0]):
        i, xi = ev_idx[e], ev_val[e]
        for j in range(n):
            m[j] += w_in_t[i, j] * xi
    for e in range(n_spk):
        i = spk[e]
        zi = zp[i]
        for j in range(n):
            m[j] += w_rec_t[i, j] * zi
    if syn:
        for j in range(n):
            cur[j] = alpha_s * cur[j] + s_s * m[j]
            m[j] = cur[j]
    if adaptive:
        for j in range(n):
            a[j] = rho * a[j] + zp[j]
    for j in range(n):
        thr = v_th + beta[j] * a[j] + theta[j] if adaptive else v_th + theta[j]
        vj = alpha * v[j] + s * m[j] - v_th * zp[j] if exact else _chip_membrane(v[j], zp[j], m[j], k)
        free = one if r[j] <= zero else zero
        zj = (one if vj > thr else zero) * free
        d = one - abs(vj - thr) * inv_width
        psi[j] = peak * (zero if d < zero else d) * free  # NaN stays NaN, as torch.clamp
        r[j] = n_ref if zj > zero else (r[j] - one if r[j] - one > zero else zero)
        v[j] = vj
        vout[j] = vj
        z[j] = zj
    return _active(z, zp, spk)


def _chip_membrane(v, zp, m, k):
    r"""A chip's membrane update (:meth:`neuromorph.hardware.numerics.ChipNumerics.membrane`), operation for operation
    in the network's dtype, so that the integers are the torch loop's.

    ``k[9]`` is the mode: 1 the float update with a reset to zero, :math:`\alpha v (1 - z) + s m`; 2 (3) the float
    update with a subtractive reset (to zero) rounded to float32; 4 the integer state
    :math:`k_t = \mathrm{ovf}(D(k_{t-1})[1 - z]_\mathrm{zero} - K_\mathrm{th} z\,[\,]_\mathrm{subtract}
    + \mathrm{round}(s m / \Delta_v))`, :math:`v = k \Delta_v`, with ``k[10:]`` = (Δv, reset to zero, decay kind
    (1 mul-shift, 2 bit-shift), decay numerator :math:`2^b - d`, decay denominator (:math:`2^b`, or :math:`2^n` of the
    shift), :math:`K_\mathrm{th}`, saturate, :math:`2^b - 1`, :math:`2^b`) (:mod:`neuromorph.hardware.quantize`).
    """
    one = k.dtype.type(1.0)
    alpha, s, v_th, mode = k[0], k[1], k[2], k[9]
    if mode < 4:
        zero_reset = mode != 2
        x = alpha * v * (one - zp) + s * m if zero_reset else alpha * v + s * m - v_th * zp
        return k.dtype.type(np.float32(x)) if mode >= 2 else x
    step, zero_reset, decay, num, den, lsb, saturate, top, half = (k[10], k[11], k[12], k[13], k[14], k[15], k[16],
                                                                   k[17], k[18])
    q = np.rint(v / step)  # already on the grid: rint removes float noise (ties to even, as torch.round)
    q = np.sign(q) * np.floor(np.abs(q) * num / den) if decay == one else q - np.floor(q / den)
    q = q * (one - zp) if zero_reset == one else q - lsb * zp
    q = q + np.rint(s * m / step)
    if saturate == one:
        q = min(max(q, -top), top)
    else:  # two's complement, as torch.remainder (the sign of the divisor)
        q = (q + half) % (half + half) - half
    return q * step


def _active(z, copy, idx):
    """Copy ``z`` into ``copy`` and list its nonzero entries in ``idx``; returns their number (branch-free)."""
    count = 0
    for j in range(z.shape[0]):
        copy[j] = z[j]
        idx[count] = j
        count += z[j] != 0
    return count


def _spiking_loop(x, ptr, idx, val, X, dense, w_in_t, w_rec_t, bias, theta, beta, k, syn, adaptive, w_out, b_out,
                  leaky, c, scale, z, psi, y, vout):
    """LIF, ALIF or CUBA LIF forward over a whole sequence from rest (:func:`_spiking_step`, then the readout);
    fills ``z``, ``psi``, ``vout`` (T, B, n) and ``y`` (T, B, n_out)."""
    T, B = x.shape[0], x.shape[1]
    n = bias.shape[0]
    spk = np.empty(n, np.int64)
    for b in range(B):
        state = np.zeros((6, n), bias.dtype)
        v, zp, r, cur, a, m = state[0], state[1], state[2], state[3], state[4], state[5]
        yb = np.zeros(w_out.shape[0], bias.dtype)
        n_spk = 0
        for t in range(T):
            e0, e1 = ptr[t * B + b], ptr[t * B + b + 1]
            n_spk = _spiking_step(idx[e0:e1], val[e0:e1], X[t, b] if dense else bias, dense, w_in_t, w_rec_t, bias,
                                  theta, beta, k, syn, adaptive, v, zp, r, cur, a, m, spk, n_spk, z[t, b], psi[t, b],
                                  vout[t, b])
            _readout(zp, spk, n_spk, w_out, b_out, leaky, c, scale, yb)
            y[t, b] = yb


def _readout(zt, act, n_act, w_out, b_out, leaky, c, scale, yb):
    """One readout step in place on ``yb``, summing over the active entries ``act[:n_act]`` of ``zt``."""
    zero = zt.dtype.type(0.0)
    for k in range(w_out.shape[0]):
        acc = zero
        for e in range(n_act):
            i = act[e]
            acc += w_out[k, i] * zt[i]
        out = acc + b_out[k]
        yb[k] = yb[k] + c * (-yb[k] + out * scale) if leaky else out


def _rate_loop(X, w_rec, bias, a, activation, w_out, b_out, leaky, c, scale, z, psi, y, vout):
    r"""Rate units over a whole sequence: :math:`u_t = I_t` (``a`` = 1) or :math:`(1 - a) u_{t-1} + a I_t`,
    :math:`z = \phi(u)`, :math:`\psi = \phi'(u)` (``activation`` 0 linear, 1 tanh, 2 ReLU); dense recurrence."""
    T, B, n = X.shape
    n_out = w_out.shape[0]
    zero = X.dtype.type(0.0)
    one = X.dtype.type(1.0)
    for b in range(B):
        u = np.zeros(n, X.dtype)
        zp = np.zeros(n, X.dtype)
        yb = np.zeros(n_out, X.dtype)
        every = np.arange(n)  # dense: the readout sums over all units
        for t in range(T):
            for j in range(n):
                rec = zero
                for i in range(n):
                    rec += w_rec[j, i] * zp[i]
                drive = X[t, b, j] + rec + bias[j]
                u[j] = drive if a == one else (one - a) * u[j] + a * drive
                vout[t, b, j] = u[j]
            for j in range(n):
                if activation == 0:
                    z[t, b, j], psi[t, b, j] = u[j], one
                elif activation == 1:
                    zj = np.tanh(u[j])
                    z[t, b, j], psi[t, b, j] = zj, one - zj ** 2
                else:
                    z[t, b, j] = zero if u[j] < zero else u[j]  # ReLU; NaN stays NaN, as torch.relu
                    psi[t, b, j] = one if u[j] > zero else zero
                zp[j] = z[t, b, j]
            _readout(zp, every, n, w_out, b_out, leaky, c, scale, yb)
            for k in range(n_out):
                y[t, b, k] = yb[k]


def _events(x, count):
    """The nonzero entries of ``x`` (T, B, n_in), ``count`` of them, as lists per step and sequence: the entries of
    row ``t B + b`` are ``idx[ptr[r]:ptr[r + 1]]`` with values ``val[...]`` (compressed sparse rows)."""
    T, B, n_in = x.shape
    ptr = np.empty(T * B + 1, np.int64)
    idx = np.empty(count + 1, np.int32)
    val = np.empty(count + 1, x.dtype)
    e = 0
    for t in range(T):
        for b in range(B):
            ptr[t * B + b] = e
            for i in range(n_in):  # branch-free: write, then keep only when nonzero
                idx[e] = i
                val[e] = x[t, b, i]
                e += x[t, b, i] != 0
    ptr[T * B] = e
    return ptr, idx, val


def _count_nonzero(flat):
    """The number of nonzero entries of a flat array (one vectorised pass)."""
    count = 0
    for value in flat:
        count += value != 0
    return count


def _causal(u, decay, scale, out):
    """``out[t] = decay * out[t-1] + scale * u[t]`` along axis 0 of (T, m) arrays (``out[-1]`` = 0); rows in
    memory order."""
    T, m = u.shape
    acc = np.zeros(m, u.dtype)
    for t in range(T):
        for k in range(m):
            acc[k] = decay * acc[k] + scale * u[t, k]
            out[t, k] = acc[k]


def _project(x, u, pk):
    r"""One trace value on a chip's trace grid (:meth:`neuromorph.hardware.numerics.ChipNumerics.project_trace`), as
    torch computes it: ``pk`` = (mode, Δ, k_min, k_max, stochastic); mode 0 keeps ``x``, 1 rounds it to float32, 2 is
    :math:`\Delta\,\mathrm{clip}(R(x/\Delta))` with :math:`R(a) = \lfloor a + u \rfloor` (stochastic, ``u`` the
    step's uniform draw) or the nearest integer."""
    one = pk.dtype.type(1.0)
    if pk[0] == one:
        return pk.dtype.type(np.float32(x))
    if pk[0] != one + one:
        return x
    a = x / pk[1]
    a = np.floor(a + u) if pk[4] == one else np.rint(a)
    return min(max(a, pk[2]), pk[3]) * pk[1]


def _projected_causal(u, decay, scale, U, pk, out):
    """:func:`_causal` with every step's value brought to a chip's trace grid (:func:`_project`; ``U`` (T, m) the
    uniform draws of stochastic rounding, or any (T, 1) array when there are none)."""
    T, m = u.shape
    acc = np.zeros(m, u.dtype)
    stochastic = U.shape[1] == m
    for t in range(T):
        for k in range(m):
            acc[k] = _project(decay * acc[k] + scale * u[t, k], U[t, k] if stochastic else U[t, 0], pk)
            out[t, k] = acc[k]


def _anticausal(q, decay, out):
    """``out[t] = q[t] + decay[t] * out[t+1]`` along axis 0 (``out[T]`` = 0); ``decay`` (T, m), any strides."""
    T, m = q.shape
    acc = np.zeros(m, q.dtype)
    for t in range(T - 1, -1, -1):
        for k in range(m):
            acc[k] = q[t, k] + decay[t, k] * acc[k]
            out[t, k] = acc[k]


_readout = _jit(_readout, inline=True)
_active = _jit(_active, inline=True)
_chip_membrane = _jit(_chip_membrane, inline=True)
_project = _jit(_project, inline=True)
_spiking_step = _jit(_spiking_step, inline=True)
_KERNELS = {"spiking": _jit(_spiking_loop), "rate": _jit(_rate_loop), "causal filter": _jit(_causal),
            "anticausal filter": _jit(_anticausal), "projected filter": _jit(_projected_causal),
            "count nonzero": _jit(_count_nonzero), "events": _jit(_events)}


# ----------------------------------------------------------------------------------------------- wrappers
def _np(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().cpu().numpy())


def _readout_constants(low) -> tuple[bool, float, float]:
    """``(leaky, c, scale)`` of :func:`neuromorph.dynamics.readout_step` (norse's li_box step: c = dt * tau_mem_inv)."""
    dt, readout = low.spec.dt, low.spec.readout
    one_minus_kappa = 1.0 - readout.kappa(dt)
    if one_minus_kappa == 1.0:
        return False, 0.0, 1.0
    return True, dt * (one_minus_kappa / dt), readout.drive_scale(dt) / one_minus_kappa


def _start(low, params, inputs: torch.Tensor):
    """The input drive of every step (one product), the output arrays and the dtype's scalar type."""
    T, B, _ = inputs.shape
    n, n_out = low.spec.n_rec, low.spec.n_out
    np_dtype = np.float64 if low.dtype == torch.float64 else np.float32
    X = _np((inputs.reshape(T * B, -1) @ params.w_in.T).reshape(T, B, n))
    out = (np.empty((T, B, n), np_dtype), np.empty((T, B, n), np_dtype), np.empty((T, B, n_out), np_dtype),
           np.empty((T, B, n), np_dtype))
    return X, out, np_dtype


def _finish(low, z, psi, y, v) -> Run:
    return Run(*(torch.from_numpy(a) for a in (z, psi, y, v)))


class Run(NamedTuple):
    """A compiled forward pass, time-major: the inputs of the factored forms and the membrane of a recording."""

    z: torch.Tensor
    psi: torch.Tensor
    y: torch.Tensor
    v: torch.Tensor  #: the membrane before the reset (spiking) or the pre-activation (rate units)

    @property
    def z_prev(self) -> torch.Tensor:
        """:math:`z_{t-1}` (zeros at t = 0), a copy made when a factored form asks for it."""
        return torch.cat([torch.zeros_like(self.z[:1]), self.z[:-1]])


#: Inputs with at most this fraction of nonzero entries drive the network event by event (a spike raster);
#: denser ones through one matrix product for all steps before the loop.
SPARSE_INPUT = 0.25


def spiking_arrays(low, params, inputs: torch.Tensor) -> tuple:
    r"""What the spiking kernels take: the inputs, their events (:func:`_events`) or, when dense, their drive
    :math:`W^\mathrm{in} x_t` for all steps, the transposed weights and the constants of :func:`_spiking_step`."""
    p, dt, n = low.spec.neuron, low.spec.dt, low.spec.n_rec
    cast = np.float64 if low.dtype == torch.float64 else np.float32
    x = _np(inputs)
    T, B, _ = inputs.shape
    count = _KERNELS["count nonzero"](x.reshape(-1))
    dense = bool(count > SPARSE_INPUT * x.size)
    if dense:
        X = _np((inputs.reshape(T * B, -1) @ params.w_in.T).reshape(T, B, n))
        ptr, idx, val = np.zeros(T * B + 1, np.int64), np.zeros(1, np.int32), np.zeros(1, cast)
    else:
        X = np.zeros((1, 1, n), cast)
        _announce("events")
        ptr, idx, val = _KERNELS["events"](x, count)
    theta = _np(params.threshold) if params.threshold is not None else np.zeros(n, cast)
    beta, k, syn, adaptive = step_constants(low)
    return (x, ptr, idx, val, X, dense, _np(params.w_in.T), _np(params.w_rec.T), _np(params.bias), theta, beta, k,
            syn, adaptive)


def step_constants(low) -> tuple:
    """``(beta, k, syn, adaptive)`` of :func:`_spiking_step` for the network's spiking family, in its dtype."""
    p, dt, n = low.spec.neuron, low.spec.dt, low.spec.n_rec
    cast = np.float64 if low.dtype == torch.float64 else np.float32
    syn, alpha_s, s_s, adaptive, rho, beta = _FAMILIES[type(p)](p, dt, n, low.dtype)
    beta = _np(beta) if beta is not None else np.zeros(n, cast)
    membrane = membrane_constants(low)
    if membrane is None:
        raise ValueError(f"no compiled membrane for {low.chip.profile.id!r}'s arithmetic (check chip_supported first)")
    k = np.array([p.alpha(dt), p.drive_scale(dt), p.v_th, p.pd_height, p.pd_width, p.n_ref(dt), alpha_s, s_s, rho,
                  *membrane], cast)
    return beta, k, syn, adaptive


#: the mode of :func:`_chip_membrane` (0: no chip) by the state grid's kind and reset
_MEMBRANE_MODES = {("exact", "zero"): 1, ("float32", "subtract"): 2, ("float32", "zero"): 3}


def membrane_constants(low) -> list[float] | None:
    """The membrane arithmetic of :func:`_chip_membrane` for the network's chip: ``[0]`` where the float update runs
    (no chip, or a state kept exactly with a subtractive reset), ``None`` where the kernel has none (a chip grid on a
    family whose membrane is not the LIF update: the torch loop runs)."""
    g = low.chip.state if low.chip is not None else None
    if low.membrane is None or g is None:
        return [0.0]
    if type(low.spec.neuron) not in (LIFParameters, ALIFParameters):
        return None
    if g.kind != "int":
        return [float(_MEMBRANE_MODES[g.kind, g.reset])]
    mul_shift = g.decay == "mul_shift"
    decay = (1.0, float(2**g.decay_bits - g.decay_const), float(2**g.decay_bits)) if mul_shift else (
        2.0, 0.0, float(2**g.decay_const))
    return [4.0, g.step, float(g.reset == "zero"), *decay, float(g.threshold_lsb), float(g.overflow == "saturate"),
            float(2**g.bits - 1), float(2**g.bits)]


def input_events(x: np.ndarray) -> tuple:
    """``(ptr, idx, val)`` of :func:`_events` for a (T, B, n_in) input array."""
    _announce("events")
    return _KERNELS["events"](x, _KERNELS["count nonzero"](x.reshape(-1)))


def readout_arrays(low, params) -> tuple:
    """``(w_out, b_out, leaky, c, scale)`` of :func:`_readout` in the network's dtype."""
    cast = np.float64 if low.dtype == torch.float64 else np.float32
    leaky, c, scale = _readout_constants(low)
    return _np(params.w_out), _np(params.b_out), leaky, cast(c), cast(scale)


def spiking_forward(low, params, inputs: torch.Tensor):
    """The compiled forward pass of an LIF, ALIF or CUBA LIF network from rest, time-major."""
    T, B, _ = inputs.shape
    n, n_out = low.spec.n_rec, low.spec.n_out
    cast = np.float64 if low.dtype == torch.float64 else np.float32
    z, psi, v = (np.empty((T, B, n), cast) for _ in range(3))
    y = np.empty((T, B, n_out), cast)
    _announce("spiking")
    _KERNELS["spiking"](*spiking_arrays(low, params, inputs), *readout_arrays(low, params), z, psi, y, v)
    return _finish(low, z, psi, y, v)


def rate_forward(low, params, inputs: torch.Tensor):
    """The compiled forward pass of a rate network from rest, time-major."""
    p, dt = low.spec.neuron, low.spec.dt
    X, (z, psi, y, v), cast = _start(low, params, inputs)
    leaky, c, scale = _readout_constants(low)
    _announce("rate")
    _KERNELS["rate"](X, _np(params.w_rec), _np(params.bias), cast(p.leak(dt)), _ACTIVATIONS[p.activation],
                     _np(params.w_out), _np(params.b_out), leaky, cast(c), cast(scale), z, psi, y, v)
    return _finish(low, z, psi, y, v)


def causal_filter(u: torch.Tensor, decay: float, scale: float) -> torch.Tensor:
    r""":math:`F_t = d F_{t-1} + s u_t` along dim 0 of any (T, ...) tensor, :math:`F_{-1} = 0`."""
    flat = _np(u.reshape(u.shape[0], -1))
    out = np.empty_like(flat)
    _announce("causal filter")
    _KERNELS["causal filter"](flat, flat.dtype.type(decay), flat.dtype.type(scale), out)
    return torch.from_numpy(out).reshape(u.shape)


def projected_filter(u: torch.Tensor, decay: float, scale: float, grid: np.ndarray,
                     uniforms: torch.Tensor | None) -> torch.Tensor:
    r""":func:`causal_filter` on a chip's trace grid: :math:`F_t = \mathrm{proj}(d F_{t-1} + s u_t)`
    (:func:`trace_grid` gives ``grid``; ``uniforms`` shaped like ``u``: the draws of stochastic rounding, in the
    torch loop's order)."""
    flat = _np(u.reshape(u.shape[0], -1))
    U = _np(uniforms.reshape(u.shape[0], -1)) if uniforms is not None else np.zeros((u.shape[0], 1), flat.dtype)
    out = np.empty_like(flat)
    _announce("projected filter")
    _KERNELS["projected filter"](flat, flat.dtype.type(decay), flat.dtype.type(scale), U, grid.astype(flat.dtype),
                                 out)
    return torch.from_numpy(out).reshape(u.shape)


def trace_grid(chip, scale: float) -> np.ndarray:
    """``pk`` of :func:`_project` for traces of drive scale ``scale`` on ``chip``'s trace grid (step scale/impulse)."""
    g = chip.traces if chip is not None else None
    if g is None:
        return np.zeros(5)
    if g.kind == "float32":
        return np.array([1.0, 0.0, 0.0, 0.0, 0.0])
    lo, hi = int_range(g.bits, g.signed)
    return np.array([2.0, scale / g.impulse, lo, hi, float(g.rounding == "stochastic")])


def anticausal_filter(q: torch.Tensor, decay: torch.Tensor | float) -> torch.Tensor:
    r""":math:`G_t = q_t + d_t G_{t+1}` along dim 0, :math:`G_T = 0` (``decay`` a scalar or shaped like ``q``)."""
    flat = _np(q.reshape(q.shape[0], -1))
    out = np.empty_like(flat)
    if not isinstance(decay, torch.Tensor) or decay.dim() == 0:  # one decay for all: a zero-stride view
        d = np.broadcast_to(np.asarray(float(decay), flat.dtype), flat.shape)
    else:
        d = _np(decay.expand_as(q).reshape(q.shape[0], -1))
    _announce("anticausal filter")
    _KERNELS["anticausal filter"](flat, d, out)
    return torch.from_numpy(out).reshape(q.shape)


#: What each spiking family adds to the LIF step: ``(syn, alpha_s, s_s, adaptive, rho, beta)``.
_FAMILIES: dict[type, Callable] = {
    LIFParameters: lambda p, dt, n, dtype: (False, 0.0, 0.0, False, 0.0, None),
    ALIFParameters: lambda p, dt, n, dtype: (False, 0.0, 0.0, True, p.rho(dt), p.beta_tensor(n, dtype)),
    CubaLIFParameters: lambda p, dt, n, dtype: (True, p.alpha_syn(dt), p.current_scale(dt), False, 0.0, None),
}
_ACTIVATIONS = {Activation.LINEAR: 0, Activation.TANH: 1, Activation.RELU: 2}

#: The spiking families :func:`_spiking_step` runs (exact classes: a subclass may step differently).
SPIKING = frozenset(_FAMILIES)


def at_rest(state) -> bool:
    """Whether a network state is all zeros (the compiled loops start every sequence from rest)."""
    return not any(s.any() for s in (*state.neuron, state.y))


def chip_compiled(low) -> bool:
    """Whether the kernels run the network's arithmetic: exact floats, or a chip's membrane (:func:`_chip_membrane`)
    and trace grid (:func:`_project`) on LIF or ALIF neurons."""
    return low.chip is None or (type(low.spec.neuron) in (LIFParameters, ALIFParameters)
                                and membrane_constants(low) is not None)


def compiled_forward(low, params, inputs: torch.Tensor, state) -> Run | None:
    """The compiled forward pass where ``train.engine = "compiled"`` has one for the neuron and its arithmetic (from
    rest; a chip's membrane where :func:`chip_compiled`), else ``None``: the caller runs the torch loop."""
    kernel = FORWARD.get(type(low.spec.neuron)) if low.engine == "compiled" and available() else None
    if kernel is None or not chip_compiled(low) or not at_rest(state):
        return None
    return kernel(low, params, inputs)


#: Compiled forward passes by exact neuron class (a subclass may step differently, so it is not matched).
FORWARD: dict[type, Callable] = {LIFParameters: spiking_forward, ALIFParameters: spiking_forward,
                                 CubaLIFParameters: spiking_forward, RateParameters: rate_forward}
