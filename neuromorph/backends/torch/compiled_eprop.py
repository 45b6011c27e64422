r"""Factored e-prop as two compiled passes over the sequence: forward, then the exact update backwards in time.

:mod:`.factored` computes the end-of-sequence e-prop update from per-neuron factors with matrix products over
(T B) rows. Here the same update is summed along the sequence by two compiled loops, with per-neuron state only:

1. **forward** (:func:`_forward`): the network step of :func:`.compiled._spiking_step` (event-driven input and
   recurrence), the readout :math:`y_t`, the spike count of every neuron, and the state at every K-th step
   (a *checkpoint*). When the sequence's per-step factors :math:`z_t, \psi_t` fit in :data:`STORE_BYTES` they are
   kept; otherwise only the checkpoints are, and the backward pass recomputes each K-step segment from its
   checkpoint (the same floats: the step is deterministic), so memory does not grow with T beyond
   :math:`T/K` states.
2. **backward** (:func:`_backward`), from :math:`t = T-1` down to 0, with :math:`\delta_t` the output error:

.. math::

    D_t = \delta_t + \kappa D_{t+1}, \qquad c_t = s_\mathrm{out} B D_t + r, \qquad
    p_t = \psi_t c_t \;(- \psi_t \mu_{t+1}), \qquad
    \mu_t = \beta(\psi_t c_t) + (\rho - \beta\psi_t)\,\mu_{t+1}, \qquad Q_t = p_t + \alpha Q_{t+1}

   (:math:`G = B D` is the κ-filtered learning signal :math:`L = B\delta`, :math:`\mu` the ALIF adjoint of
   :func:`.factored.post_coefficient`, :math:`r` the sequence's firing-rate term,
   :meth:`~neuromorph.plasticity.RateRegularization.coefficient` of the forward pass's spike counts). Exchanging
   the order of the sums over the presynaptic trace :math:`P_t = \sum_{s \le t} \alpha^{t-s} s_\mathrm{in} u_s`
   gives :math:`\sum_t p_t P_t^\top = s_\mathrm{in} \sum_s Q_s u_s^\top`, so every gradient is accumulated from
   the raw activity :math:`u_s` of the step (:math:`x_s`, :math:`z_{s-1}`, 1), adding only where it is nonzero:

.. math::

    g^\mathrm{in} = s_\mathrm{in} \textstyle\sum_s Q_s x_s^\top, \quad
    g^\mathrm{rec} = s_\mathrm{in} \sum_s Q_s z_{s-1}^\top, \quad
    g^\mathrm{b} = s_\mathrm{in} \sum_s Q_s, \quad g^\theta = -\sum_s p_s, \quad
    g^\mathrm{out} = s_\mathrm{out} \sum_s D_s z_s^\top, \quad g^{b,\mathrm{out}} = s_\mathrm{out} \sum_s D_s

A neuron with inner filter stages (the CUBA LIF's synaptic current, decay :math:`d`, scale :math:`s_k`) filters
:math:`Q` once more per stage, :math:`Q'_t = Q_t + d\,Q'_{t+1}`, and scales by :math:`s_k`. The result is
:func:`.factored.factored_gradients`'s, summed in another order (``tests/test_compiled.py``: 1e-12 in float64).
This is Bellec et al. 2020 (Nat. Commun. 11:3625), eqs. 13-14, summed by parts twice.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from neuromorph.backends.torch import compiled
from neuromorph.backends.torch.compiled import _active, _announce, _jit, _np, _readout, _spiking_step
from neuromorph.plasticity import EProp
from neuromorph.plasticity.base import Target
from neuromorph.plasticity.three_factor import feedback_matrix

#: per-step factors (z and ψ of every step and sequence) up to this size are kept; beyond it, checkpoints
STORE_BYTES = 64 * 2**20


def _forward(x, ptr, idx, val, X, dense, w_in_t, w_rec_t, bias, theta, beta, k, syn, adaptive, w_out, b_out, leaky,
             c, scale, every, store, z, psi, y, checkpoints, counts):
    """The forward pass: ``y`` (T, B, n_out), spike ``counts`` (B, n) of each sequence, the state (v, z, r, i, a)
    at steps 0, K, 2K, ... in ``checkpoints`` (B, ⌈T/K⌉, 5, n); ``store``: also ``z`` and ``psi`` (B, T, n)."""
    T, B = x.shape[0], x.shape[1]
    n, n_out = bias.shape[0], w_out.shape[0]
    zrow, prow, vrow = np.empty(n, bias.dtype), np.empty(n, bias.dtype), np.empty(n, bias.dtype)
    spk = np.empty(n, np.int64)
    for b in range(B):
        state = np.zeros((6, n), bias.dtype)
        yb = np.zeros(n_out, bias.dtype)
        n_spk = 0
        for t in range(T):
            if t % every == 0:
                checkpoints[b, t // every] = state[:5]
            zt = z[b, t] if store else zrow
            e0, e1 = ptr[t * B + b], ptr[t * B + b + 1]
            n_spk = _spiking_step(idx[e0:e1], val[e0:e1], X[t, b] if dense else bias, dense, w_in_t, w_rec_t, bias,
                                  theta, beta, k, syn, adaptive, state[0], state[1], state[2], state[3], state[4],
                                  state[5], spk, n_spk, zt, psi[b, t] if store else prow, vrow)
            _readout(state[1], spk, n_spk, w_out, b_out, leaky, c, scale, yb)
            y[t, b] = yb
            for e in range(n_spk):
                counts[b, spk[e]] += zt[spk[e]]


def _segment(ptr, idx, val, X, dense, w_in_t, w_rec_t, bias, theta, beta, k, syn, adaptive, B, b, t0, t1, start,
             zseg, pseg):
    """Recompute steps ``t0 .. t1-1`` of sequence ``b`` from the checkpoint ``start`` (5, n) into ``zseg``/``pseg``."""
    n = bias.shape[0]
    state = np.zeros((6, n), bias.dtype)
    state[:5] = start
    vrow = np.empty(n, bias.dtype)
    spk = np.empty(n, np.int64)
    n_spk = _active(start[1], vrow, spk)
    for t in range(t0, t1):
        e0, e1 = ptr[t * B + b], ptr[t * B + b + 1]
        n_spk = _spiking_step(idx[e0:e1], val[e0:e1], X[t, b] if dense else bias, dense, w_in_t, w_rec_t, bias,
                              theta, beta, k, syn, adaptive, state[0], state[1], state[2], state[3], state[4],
                              state[5], spk, n_spk, zseg[t - t0], pseg[t - t0], vrow)


def _backward(x, ptr, idx, val, X, dense, w_in_t, w_rec_t, bias, theta, beta, k, syn, adaptive, every, store, z, psi,
              checkpoints, delta, fb_t, reg, decays, kappa, rho, g_in_t, g_rec_t, g_bias, g_thr, g_out, g_bout):
    """The backward pass of the module docstring, accumulating the unscaled sums into the ``g_*`` arrays
    (``g_in_t`` (n_in, n) and ``g_rec_t`` (n, n) transposed); ``decays`` = (α, inner stages' decays...); ``reg``
    (B, n) the firing-rate term :math:`r` of each sequence."""
    T, B, n_in = x.shape
    n, n_out = bias.shape[0], fb_t.shape[0]
    n_stage = decays.shape[0]
    zseg, pseg = np.empty((every, n), bias.dtype), np.empty((every, n), bias.dtype)
    scratch = np.empty(n, bias.dtype)
    act, act_prev = np.empty(n, np.int64), np.empty(n, np.int64)
    every_input = np.arange(n_in)
    n_seg = (T + every - 1) // every
    for b in range(B):
        D = np.zeros(n_out, bias.dtype)
        Q = np.zeros((n_stage, n), bias.dtype)
        mu = np.zeros(n, bias.dtype)
        post = np.empty(n, bias.dtype)
        n_act = -1  # the active list of z_t is not known yet at t = T-1
        for seg in range(n_seg - 1, -1, -1):
            t0, t1 = seg * every, min(T, (seg + 1) * every)
            if not store:
                _segment(ptr, idx, val, X, dense, w_in_t, w_rec_t, bias, theta, beta, k, syn, adaptive, B, b, t0, t1,
                         checkpoints[b, seg], zseg, pseg)
            for t in range(t1 - 1, t0 - 1, -1):
                zt = z[b, t] if store else zseg[t - t0]
                pt = psi[b, t] if store else pseg[t - t0]
                if t == 0 or (not store and t == t0):
                    zprev = checkpoints[b, seg, 1]
                else:
                    zprev = z[b, t - 1] if store else zseg[t - t0 - 1]
                if n_act < 0:
                    n_act = _active(zt, scratch, act)
                n_prev = _active(zprev, scratch, act_prev)
                for q in range(n_out):
                    D[q] = delta[t, b, q] + kappa * D[q]
                    g_bout[q] += D[q]
                    for e in range(n_act):
                        g_out[q, act[e]] += D[q] * zt[act[e]]
                _post(post, pt, D, fb_t, reg[b], adaptive, beta, rho, mu)
                for j in range(n):
                    g_thr[j] -= post[j]
                    Q[0, j] = post[j] + decays[0] * Q[0, j]
                for st in range(1, n_stage):
                    for j in range(n):
                        Q[st, j] = Q[st - 1, j] + decays[st] * Q[st, j]
                last = Q[n_stage - 1]
                for j in range(n):
                    g_bias[j] += last[j]
                if dense:
                    _accumulate(g_in_t, last, every_input, x[t, b], n_in)
                else:
                    e0, e1 = ptr[t * B + b], ptr[t * B + b + 1]
                    _accumulate(g_in_t, last, idx[e0:e1], val[e0:e1], -1)
                _accumulate(g_rec_t, last, act_prev, zprev, n_prev)
                act, act_prev = act_prev, act
                n_act = n_prev


def _post(post, pt, D, fb_t, reg, adaptive, beta, rho, mu):
    r"""The per-neuron factor :math:`p_t = \psi_t(s_\mathrm{out} B D_t + r) - \psi_t\mu_{t+1}` in ``post``, and
    :math:`\mu_t` in place (ALIF; ``fb_t`` is :math:`s_\mathrm{out} B^\top`)."""
    n = post.shape[0]
    for j in range(n):
        post[j] = reg[j]
    for q in range(fb_t.shape[0]):
        dq = D[q]
        for j in range(n):
            post[j] += fb_t[q, j] * dq
    if adaptive:
        for j in range(n):
            p = pt[j] * post[j]
            post[j] = p - pt[j] * mu[j]
            mu[j] = beta[j] * p + (rho - beta[j] * pt[j]) * mu[j]
    else:
        for j in range(n):
            post[j] *= pt[j]


def _accumulate(g_t, q, rows, values, n_rows):
    """``g_t[rows[e]] += q * u`` for the active rows: ``values[e]`` (events, ``n_rows < 0``: all of ``rows``) or
    ``values[rows[e]]`` for the first ``n_rows`` (an active list over a dense row)."""
    zero = q.dtype.type(0.0)
    count = rows.shape[0] if n_rows < 0 else n_rows
    for e in range(count):
        i = rows[e]
        u = values[e] if n_rows < 0 else values[i]
        if u != zero:
            for j in range(q.shape[0]):
                g_t[i, j] += q[j] * u


_segment = _jit(_segment)
_post = _jit(_post, inline=True)
_accumulate = _jit(_accumulate, inline=True)
_KERNELS = {"e-prop forward": _jit(_forward), "e-prop backward": _jit(_backward)}
compiled._KERNELS.update(_KERNELS)  # one table for the first-compile message


def available(low, rule) -> bool:
    """Whether this sequence runs here: ``train.engine = "compiled"``, exactly :class:`EProp` (a subclass may
    change the update), a spiking family with a compiled step, exact floats (no chip grid)."""
    return (low.engine == "compiled" and compiled.available() and type(rule) is EProp and low.chip is None
            and type(low.spec.neuron) in compiled.SPIKING)


def checkpoint_every(n_steps: int, batch: int, n_rec: int, itemsize: int) -> tuple[int, bool]:
    """``(K, store)``: keep every step's z and ψ when they fit in :data:`STORE_BYTES` (K = T: one checkpoint), else a
    checkpoint every K = ⌈√T⌉ steps (memory ~ 2√T states per sequence instead of T)."""
    if 2 * n_steps * batch * n_rec * itemsize <= STORE_BYTES:
        return n_steps, True
    return max(1, math.isqrt(n_steps - 1) + 1), False


def eprop_sequence(low, params, feedback, rule: EProp, delta_of, inputs: torch.Tensor, ctx):
    """The factored e-prop update of one batch from rest: ``(grads, y, spike_count)``, the count (B, n).

    ``delta_of(y)`` gives the output error :math:`\\delta` (T, B, n_out) of the readout ``y`` (a tensor).
    """
    T, B, _ = inputs.shape
    n, n_out = low.spec.n_rec, low.spec.n_out
    cast = np.float64 if low.dtype == torch.float64 else np.float32
    net = compiled.spiking_arrays(low, params, inputs)
    every, store = checkpoint_every(T, B, n, np.dtype(cast).itemsize)
    shape = (B, T, n) if store else (1, 1, n)
    z, psi = np.empty(shape, cast), np.empty(shape, cast)
    y = np.empty((T, B, n_out), cast)
    checkpoints = np.zeros((B, (T + every - 1) // every, 5, n), cast)
    counts = np.zeros((B, n), cast)
    _announce("e-prop forward")
    _KERNELS["e-prop forward"](*net, *compiled.readout_arrays(low, params), every, store, z, psi, y, checkpoints,
                               counts)
    y_t = torch.from_numpy(y)
    delta = _np(delta_of(y_t))
    count_t = torch.from_numpy(counts)
    c = ctx.consts
    reg = rule.regularization
    r = reg.coefficient(count_t, T, ctx.dt) if reg.strength > 0 else torch.zeros(n, dtype=low.dtype)
    r = _np(r.expand(B, n))  # one row per sequence (the same row for rate = "batch")
    decays = np.array([c.alpha, *(f.decay for f in c.inner)], cast)
    grads = {k: np.zeros(s, cast) for k, s in (("in", (low.spec.n_in, n)), ("rec", (n, n)), ("bias", n),
                                                 ("thr", n), ("out", (n_out, n)), ("bout", n_out))}
    _announce("e-prop backward")
    _KERNELS["e-prop backward"](*net, every, store, z, psi, checkpoints, delta,
                                _np(c.s_out * feedback_matrix(rule, params, feedback).T), r, decays,
                                cast(c.kappa), cast(c.rho or 0.0), grads["in"], grads["rec"], grads["bias"],
                                grads["thr"], grads["out"], grads["bout"])
    return _gradients(grads, rule.targets, c), y_t, count_t


def _gradients(sums: dict[str, np.ndarray], targets, c) -> dict[Target, torch.Tensor]:
    """The trained targets' gradients from the backward pass's sums, scaled (module docstring)."""
    s_pre = c.s_in
    for f in c.inner:
        s_pre = s_pre * f.scale
    scaled = {Target.W_IN: (sums["in"].T, s_pre), Target.W_REC: (sums["rec"].T, s_pre),
              Target.BIAS: (sums["bias"], s_pre), Target.THRESHOLD: (sums["thr"], 1.0),
              Target.W_OUT: (sums["out"], c.s_out), Target.B_OUT: (sums["bout"], c.s_out)}
    return {t: torch.from_numpy(np.ascontiguousarray(g)) * s for t, (g, s) in scaled.items() if t in targets}
