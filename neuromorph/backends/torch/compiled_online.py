r"""Online e-prop as a compiled loop (numba): the torch online loop's numbers, window by window.

:func:`~neuromorph.backends.torch.train.online_sequence` runs e-prop's online mode (``rule.mode = "online"``) as
a Python loop of many small torch operations per step. With ``train.engine = "compiled"`` the same computation
runs here, one compiled call per update window, with the state of the neuron, the traces and the per-synapse
eligibility carried between calls in numpy arrays, and ``apply(grads)`` between them (the next window reads the
updated parameters). Per step :math:`t` and batch element, exactly as the torch loop (Bellec et al. 2020,
Nat. Commun. 11:3625, eqs. 13-14 and Methods):

* the network step of :mod:`neuromorph.dynamics.lif` (ALIF, CUBA LIF): :math:`I_t = W^\mathrm{in} x_t +
  W^\mathrm{rec} z_{t-1} + b` (event-driven: only the nonzero inputs and spikes are added), membrane, threshold,
  refractory count, pseudo-derivative :math:`\psi_t` and the readout :math:`y_t` (:mod:`.compiled`'s kernel);
* the output error :math:`\delta_t` (:func:`~neuromorph.plasticity.losses.output_error`, mean squared error or
  softmax cross-entropy, and the loss) and :math:`L_t = B\,\delta_t` with :math:`B` = ``feedback_matrix``;
* the presynaptic traces :math:`P_t = \alpha P_{t-1} + s_\mathrm{in} u_t` of :math:`u_t = (x_t, z_{t-1}, 1)`,
  after the neuron's inner stages (CUBA LIF's current), and the readout's :math:`Z^\kappa_t`;
* per synapse (one block of columns for all hidden targets; the threshold's presynaptic factor is -1):

.. math::

    e^t_{ji} = \psi^t_j (P^t_i - \beta_j \epsilon^{a,t}_{ji}), \quad
    \epsilon^{a,t+1}_{ji} = \psi^t_j P^t_i + (\rho - \beta_j \psi^t_j)\,\epsilon^{a,t}_{ji}, \quad
    \bar e^t = \kappa \bar e^{t-1} + s_\mathrm{out} e^t, \quad
    A \mathrel{+}= L^t_j \bar e^t_{ji}, \quad S \mathrel{+}= e^t_{ji}

(:math:`\beta = 0` for LIF), and :math:`A^\mathrm{out} \mathrel{+}= \delta_t Z^{\kappa\top}_t`. At a window's end
:func:`~neuromorph.plasticity.eprop_online.online_gradients` adds the firing-rate term to :math:`A` and shapes
the gradients as the torch loop does. Within a window the parameters are fixed and every accumulator is a sum,
so the kernel runs batch element by batch element (the state of one stays in cache); sums run in another order
than torch's, so float64 agrees to rounding (``tests/test_compiled_online.py``: 1e-12). Memory is the
per-synapse state, independent of T.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from neuromorph.backends.base import NetworkState, SequenceResult
from neuromorph.backends.torch.compiled import (
    _KERNELS,
    SPIKING,
    _active,
    _announce,
    _jit,
    _project,
    _readout_constants,
    _spiking_step,
    at_rest,
    available,
    chip_compiled,
    step_constants,
    trace_grid,
)
from neuromorph.plasticity.base import HIDDEN_TARGETS, Target
from neuromorph.plasticity.eprop import EProp
from neuromorph.plasticity.eprop_online import OnlineState, online_gradients
from neuromorph.plasticity.three_factor import Mode, feedback_matrix
from neuromorph.types import LossKind

V, Z, R, A, I = range(5)  #: rows of the neuron-state array (membrane, spikes, refractory count, adaptation, current)


# ----------------------------------------------------------------------------------------------- kernel
@_jit
def _readout_error(z, w_out, b_out, rk, leaky, yb, ystar, m, regression, batch, delta, tot):
    r"""Readout :math:`y_t` in place on ``yb``, the output error ``delta`` and the loss added to ``tot[0]`` (times B);
    ``ystar`` the target (regression) or the class index as a float (cross-entropy).

    ``rk`` = (c, scale): :math:`y \leftarrow y + c(-y + \mathrm{scale}(W^\mathrm{out}z + b^\mathrm{out}))` (leaky)."""
    zero, one = yb.dtype.type(0.0), yb.dtype.type(1.0)
    n_out = yb.shape[0]
    for k in range(n_out):
        acc = zero
        for j in range(z.shape[0]):
            if z[j] != zero:
                acc += w_out[k, j] * z[j]
        out = acc + b_out[k]
        yb[k] = yb[k] + rk[0] * (-yb[k] + out * rk[1]) if leaky else out
    w = m / batch  # as output_error: mask / B
    if regression:
        sq = 0.0
        for k in range(n_out):
            diff = yb[k] - ystar[k]
            sq += diff * diff
            delta[k] = diff * w
        tot[0] += 0.5 * sq * m
        return
    label = int(ystar[0])  # the class index
    top = yb[0]
    for k in range(n_out):
        top = max(top, yb[k])
    se = zero
    for k in range(n_out):
        se += np.exp(yb[k] - top)
    tot[0] += (top + np.log(se) - yb[label]) * m
    for k in range(n_out):
        delta[k] = (np.exp(yb[k] - top) / se - (one if k == label else zero)) * w


@_jit
def _traces(u, stages, Q, P, tk):
    r"""Presynaptic traces in place: inner stages :math:`Q \leftarrow d Q + s u` (``stages`` rows (d, s)), then
    :math:`P \leftarrow \alpha P + s_\mathrm{in} u` on the last stage's output (``tk`` = (α, s_in, ...))."""
    for q in range(stages.shape[0]):
        for i in range(u.shape[0]):
            Q[q, i] = stages[q, 0] * Q[q, i] + stages[q, 1] * u[i]
            u[i] = Q[q, i]
    for i in range(u.shape[0]):
        P[i] = tk[0] * P[i] + tk[1] * u[i]


@_jit
def _eligibility(pre, psi, L, beta, rho, kappa, s_out, adaptive, eb, ea, acc, acc_e):
    r"""Per synapse: :math:`e`, :math:`\epsilon^a` (ALIF), :math:`\bar e`, :math:`A \mathrel{+}= L\bar e` and
    :math:`S \mathrel{+}= e` (module docstring), the innermost loop over the contiguous presynaptic axis."""
    n, m = eb.shape
    for j in range(n):
        pj, lj = psi[j], L[j]
        if adaptive:
            bp = beta[j] * pj
            dec = rho - bp
            for c in range(m):
                drive = pj * pre[c]
                e = drive - bp * ea[j, c]
                ea[j, c] = drive + dec * ea[j, c]
                eb[j, c] = kappa * eb[j, c] + s_out * e
                acc[j, c] += lj * eb[j, c]
                acc_e[j, c] += e
        else:
            for c in range(m):
                e = pj * pre[c]
                eb[j, c] = kappa * eb[j, c] + s_out * e
                acc[j, c] += lj * eb[j, c]
                acc_e[j, c] += e


@_jit
def _online_window(x, ystar, mask, t0, t1, regression, prm, fb, beta, nk, tk, stages, cols, adaptive,
                   syn, leaky, ns, y, P, Q, zk, ebar, eps, acc, acc_e, acc_out, spikes, tot, out, msum, record, rz,
                   ry, r0, grid, UP, UZ):
    """Steps ``t0 .. t1-1`` of every batch element, state in place (see :func:`compiled_online` for the arrays).

    ``grid`` (2, 5): the chip's trace grid of the hidden and the readout traces (:func:`.compiled._project`; mode 0:
    exact floats), ``UP`` (t1 - t0, B, n_in + n + 1) and ``UZ`` (t1 - t0, B, n + 1) their stochastic rounding's
    draws (one row each when there are none).

    ``record``: every step's spikes ``rz`` (T, B, n) and readout ``ry`` (T, B, n_out), and batch element 0's
    observed rule state in ``r0`` (T, n_in + 3n + n_out): presynaptic traces of x and of z_{t-1}, ψ, L and δ."""
    w_inT, w_recT, bias, theta, w_out, b_out = prm
    T, B, n_in = x.shape
    n, n_out, m = bias.shape[0], w_out.shape[0], cols.shape[0]
    one = nk.dtype.type(1.0)
    batch = nk.dtype.type(B)
    work = np.empty((5, n), nk.dtype)
    drive, znew, psi, L, zp = work[0], work[1], work[2], work[3], work[4]
    spk = np.empty(n, np.int64)
    u, pre, delta = np.empty(P.shape[1], nk.dtype), np.empty(m, nk.dtype), np.empty(n_out, nk.dtype)
    ev_idx, ev_val = np.empty(n_in, np.int32), np.empty(n_in, nk.dtype)
    chip = grid[0, 0] != 0 or grid[1, 0] != 0
    per_seq = 1 if acc_e.shape[0] > 1 else 0  # S per sequence (rate = "sequence"), else one (1, n, m) sum
    draw = 1 if UP.shape[0] > 1 or UP.shape[2] > 1 else 0  # 0: no draws (index 0 throughout)
    for b in range(B):
        for t in range(t0, t1):
            n_spk = _active(ns[Z, b], zp, spk)  # z_{t-1}, kept for the traces, and its spikes
            n_ev = _step_events(x[t, b], ev_idx, ev_val)
            _spiking_step(ev_idx[:n_ev], ev_val[:n_ev], bias, False, w_inT, w_recT, bias, theta, beta, nk, syn,
                          adaptive, ns[V, b], ns[Z, b], ns[R, b], ns[I, b], ns[A, b], drive, spk, n_spk, znew, psi, L)
            z = ns[Z, b]
            _readout_error(z, w_out, b_out, tk[4:6], leaky, y[b], ystar[t, b], mask[t, b], regression,
                           batch, delta, tot)
            for k in range(n_out):
                out[b, k] += mask[t, b] * y[b, k]
            msum[b] += mask[t, b]
            for j in range(n):
                L[j] = 0.0
                for k in range(n_out):
                    L[j] += delta[k] * fb[j, k]
            u[:n_in] = x[t, b]
            u[n_in:n_in + n] = zp
            u[n_in + n] = one
            _traces(u, stages, Q[:, b], P[b], tk)
            if chip:
                up = UP[(t - t0) * draw, b * draw]
                for i in range(P.shape[1]):
                    P[b, i] = _project(P[b, i], up[i * draw], grid[0])
            for c in range(m):
                pre[c] = P[b, cols[c]] if cols[c] >= 0 else -one
            _eligibility(pre, psi, L, beta, tk[6], tk[2], tk[3], adaptive, ebar[b], eps[b], acc,
                         acc_e[b * per_seq])
            if record:
                rz[t, b] = z
                ry[t, b] = y[b]
                if b == 0:
                    row = r0[t]
                    row[:n_in + n] = P[0, :n_in + n]
                    row[n_in + n:n_in + 2 * n] = psi
                    row[n_in + 2 * n:n_in + 3 * n] = L
                    row[n_in + 3 * n:] = delta
            for j in range(n):
                zk[b, j] = tk[2] * zk[b, j] + tk[3] * z[j]
                spikes[b, j] += z[j]
                tot[1] += z[j]
            zk[b, n] = tk[2] * zk[b, n] + tk[3]
            if chip:
                uz = UZ[(t - t0) * draw, b * draw]
                for j in range(n + 1):
                    zk[b, j] = _project(zk[b, j], uz[j * draw], grid[1])
            for k in range(n_out):
                for j in range(n + 1):
                    acc_out[k, j] += delta[k] * zk[b, j]


def _step_events(x_tb, idx, val):
    """The nonzero entries of one step's input ``x_tb`` into ``idx, val``; returns their number (branch-free). Found
    step by step, so the window holds no event list of the whole sequence (memory independent of T)."""
    count = 0
    for i in range(x_tb.shape[0]):
        idx[count] = i
        val[count] = x_tb[i]
        count += x_tb[i] != 0
    return count


_step_events = _jit(_step_events, inline=True)
_KERNELS["online e-prop"] = _online_window  # the name :func:`.compiled._announce` looks up


# ----------------------------------------------------------------------------------------------- wrapper
_NP = {torch.float32: np.float32, torch.float64: np.float64}
_ROWS = {"v": V, "z": Z, "r": R, "a": A, "i": I}


def _runs_compiled(low, rule, kind: LossKind, state, record: bool) -> bool:
    """Whether the kernel computes exactly what the torch loop would: otherwise the torch loop runs."""
    return (low.engine == "compiled" and available() and chip_compiled(low)
            and type(rule) is EProp and rule.mode is Mode.ONLINE and type(low.spec.neuron) in SPIKING
            and low.consts is not None and low.dtype in _NP and kind in (LossKind.REGRESSION, LossKind.CLASSIFICATION)
            and at_rest(state))


class _Setup(NamedTuple):
    """What stays fixed over a sequence: constants, the hidden targets' columns and the batch as numpy arrays."""

    nk: np.ndarray  #: the neuron step's constants (:func:`.compiled.step_constants`)
    tk: np.ndarray  #: traces and readout (α, s_in, κ, s_out, c, scale, ρ)
    stages: np.ndarray  #: inner trace stages (S, 2): (decay, scale)
    beta: np.ndarray
    flags: tuple[bool, bool, bool]  #: adaptive, syn, leaky
    cols: np.ndarray  #: trace column of every eligibility column (-1: the threshold's constant -1)
    slices: dict  #: hidden target -> its eligibility columns
    data: tuple  #: inputs (T, B, n_in), targets (T, B, n_out or 1), mask (T, B)


def _setup(low, rule, kind: LossKind, batch) -> _Setup:
    """Constants of the neuron step (:func:`.compiled.step_constants`), the traces and the readout (Python floats
    rounded once to the dtype, as torch does) and the batch."""
    c, dtype = low.consts, _NP[low.dtype]
    beta, nk, syn, adaptive = step_constants(low)
    leaky, rc, rs = _readout_constants(low)
    tk = [c.alpha, c.s_in, c.kappa, c.s_out, rc, rs, c.rho or 0.0]
    stages = np.array([[f.decay, f.scale] for f in c.inner], dtype).reshape(-1, 2)
    data = _data(low, kind, batch)
    return _Setup(nk, np.array(tk, dtype), stages, beta, (adaptive, syn, leaky), *_columns(low, rule), data)


def _columns(low, rule) -> tuple[np.ndarray, dict]:
    """The hidden targets side by side as one block of eligibility columns: each column's trace (the traces are
    those of (x, z_{t-1}, 1); -1 for the threshold's constant presynaptic factor -1), and each target's columns."""
    n_in, n = low.spec.n_in, low.spec.n_rec
    where = {Target.W_IN: np.arange(n_in), Target.W_REC: n_in + np.arange(n), Target.BIAS: np.array([n_in + n]),
             Target.THRESHOLD: np.array([-1])}
    hidden = [t for t in HIDDEN_TARGETS if t in rule.targets]
    cols = np.concatenate([where[t] for t in hidden] + [np.zeros(0, np.int64)]).astype(np.int64)
    bounds = np.cumsum([0] + [len(where[t]) for t in hidden])
    return cols, {t: slice(int(bounds[k]), int(bounds[k + 1])) for k, t in enumerate(hidden)}


def _data(low, kind: LossKind, batch) -> tuple:
    """Inputs, targets and mask as numpy (no copies where they already are contiguous in the dtype); class indices
    as floats (T, B, 1), so that both losses share one compiled kernel per dtype."""
    a = lambda t: np.ascontiguousarray(t.detach().to(low.dtype).numpy())
    targets = batch.targets if kind is LossKind.REGRESSION else batch.targets.unsqueeze(-1)
    return a(batch.inputs), a(targets), a(batch.mask)


class _State(NamedTuple):
    """Everything carried from window to window (time-free): neuron rows (5, B, n), readout, traces, eligibility,
    the window's accumulators and the sequence's totals."""

    ns: np.ndarray
    y: np.ndarray
    P: np.ndarray  #: presynaptic traces of (x, z_{t-1}, 1): (B, n_in + n + 1)
    Q: np.ndarray  #: inner stages (S, B, n_in + n + 1)
    zk: np.ndarray  #: readout traces (Z^κ, F_κ(1)): (B, n + 1)
    ebar: np.ndarray  #: (B, n, m) for the m eligibility columns
    eps: np.ndarray  #: ALIF's ε^a (B, n, m), else empty
    acc: np.ndarray  #: Σ L ē (n, m)
    acc_e: np.ndarray  #: Σ e per sequence (B, n, m) for rate = "sequence", else summed over the batch (1, n, m)
    acc_out: np.ndarray  #: Σ δ (Z^κ, F_κ(1))ᵀ (n_out, n + 1)
    spikes: np.ndarray  #: (B, n) spikes of each sequence in the window
    tot: np.ndarray  #: float64 (loss × B, spikes)
    out: np.ndarray  #: (B, n_out) masked output sum
    msum: np.ndarray  #: (B,) mask sum


def _zero_state(low, s: _Setup, batch_size: int, per_sequence: bool) -> _State:
    n, n_out, n_pre, m = low.spec.n_rec, low.spec.n_out, low.spec.n_in + low.spec.n_rec + 1, len(s.cols)
    z = lambda *shape: np.zeros(shape, _NP[low.dtype])
    B = batch_size
    return _State(z(5, B, n), z(B, n_out), z(B, n_pre), z(len(s.stages), B, n_pre), z(B, n + 1), z(B, n, m),
                  z(B, n, m) if s.flags[0] else z(B, 0, 0), z(n, m), z(B if per_sequence else 1, n, m),
                  z(n_out, n + 1), z(B, n), np.zeros(2), z(B, n_out), z(B))


def _parameters(low, rule, params, feedback) -> tuple[tuple, np.ndarray]:
    """The parameters in force (transposed input and recurrent weights: rows per presynaptic unit) and B."""
    a = lambda t: np.ascontiguousarray(t.detach().to(low.dtype).numpy())
    theta = a(params.threshold) if params.threshold is not None else np.zeros(low.spec.n_rec, _NP[low.dtype])
    prm = (a(params.w_in.T), a(params.w_rec.T), a(params.bias), theta, a(params.w_out), a(params.b_out))
    return prm, a(feedback_matrix(rule, params, feedback))


def _gradients(low, rule, s: _Setup, st: _State, steps: int) -> dict[Target, torch.Tensor]:
    """The window's gradients through :func:`online_gradients` (rate term, shapes); accumulators cleared."""
    n = low.spec.n_rec
    cut = lambda a, sl: torch.from_numpy(np.array(a[..., sl], copy=True))  # a copy: the accumulators are cleared below
    acc = {t: cut(st.acc, sl) for t, sl in s.slices.items()}
    summed_e = st.acc_e if rule.regularization.per_sequence else st.acc_e[0]  # as online_init keeps S
    acc_e = {t: cut(summed_e, sl) for t, sl in s.slices.items()}
    for target, sl in ((Target.W_OUT, slice(0, n)), (Target.B_OUT, slice(n, n + 1))):
        if target in rule.targets:
            acc[target] = cut(st.acc_out, sl)
    ebar = {t: torch.from_numpy(st.ebar[:, :, sl]) for t, sl in s.slices.items()}
    window = OnlineState(ebar, {}, {}, acc, acc_e, torch.from_numpy(st.spikes.copy()), steps)
    grads, _ = online_gradients(window, rule.regularization, low.spec.dt)
    for a in (st.acc, st.acc_e, st.acc_out, st.spikes):
        a.fill(0)
    return grads


#: batch element 0's observed rule state (:meth:`EProp.observe`), side by side in a recording's rows
_OBSERVED = ("pre_trace_in", "pre_trace_rec", "post_term", "learning_signal", "output_error")


def _recording(low, n_steps: int, batch_size: int, record: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rz, ry, r0)`` of :func:`_online_window`: (T, B, n), (T, B, n_out), (T, n_in + 3n + n_out); one row each
    when not recording (the same compiled signature)."""
    n_in, n, n_out = low.spec.n_in, low.spec.n_rec, low.spec.n_out
    T, B = (n_steps, batch_size) if record else (1, 1)
    z = lambda *shape: np.zeros(shape, _NP[low.dtype])
    return z(T, B, n), z(T, B, n_out), z(T, n_in + 3 * n + n_out)


def _observed(low, r0: np.ndarray) -> dict[str, torch.Tensor]:
    """The recorded rule state of batch element 0 by name, (T, width) each, as the torch loop returns it."""
    n_in, n, n_out = low.spec.n_in, low.spec.n_rec, low.spec.n_out
    bounds = np.cumsum([0, n_in, n, n, n, n_out])
    return {k: torch.from_numpy(r0[:, bounds[i]:bounds[i + 1]].copy()) for i, k in enumerate(_OBSERVED)}


def _result(low, state, st: _State, batch_size: int, recorded: tuple | None):
    """The :class:`~neuromorph.backends.base.SequenceResult` of the torch loop; ``recorded``: ``(rz, ry, r0)``."""
    neuron = type(state.neuron)(**{k: torch.from_numpy(st.ns[_ROWS[k]].copy()) for k in state.neuron._fields})
    mean_output = torch.from_numpy(st.out) / torch.from_numpy(st.msum).clamp(min=1).unsqueeze(1)
    y, z, observed = None, None, {}
    if recorded is not None:
        z, y, observed = torch.from_numpy(recorded[0]), torch.from_numpy(recorded[1]), _observed(low, recorded[2])
    return SequenceResult(float(st.tot[0] / batch_size), float(st.tot[1]), mean_output, y, z, observed,
                          NetworkState(neuron, torch.from_numpy(st.y)))


def compiled_online(low, params, feedback, rule, kind: LossKind, batch, apply, state, record: bool):
    """Online e-prop with the compiled kernel, one call per update window and ``apply(grads)`` after each; ``None``
    where the torch loop must run (:func:`_runs_compiled`): a chip, a state off rest, another rule, neuron or
    loss. ``record`` returns every step's z and y and batch element 0's rule state, as the torch loop does."""
    if not _runs_compiled(low, rule, kind, state, record):
        return None
    s = _setup(low, rule, kind, batch)
    st = _zero_state(low, s, batch.batch_size, rule.regularization.per_sequence)
    n_steps = batch.n_steps
    rec = _recording(low, n_steps, batch.batch_size, record)
    interval = rule.update_interval or n_steps
    grid = np.stack([trace_grid(low.chip, low.consts.s_in), trace_grid(low.chip, low.consts.s_out)]).astype(s.nk.dtype)
    _announce("online e-prop")
    for w0 in range(0, n_steps, interval):
        w1 = min(w0 + interval, n_steps)
        prm, fb = _parameters(low, rule, params, feedback)
        for t0 in range(w0, w1, _CHUNK):  # the window in chunks: the draws of stochastic rounding stay small
            t1 = min(t0 + _CHUNK, w1)
            _online_window(*s.data, t0, t1, kind is LossKind.REGRESSION, prm, fb, s.beta, s.nk, s.tk, s.stages,
                           s.cols, *s.flags, *st[:11], st.tot, st.out, st.msum, record, *rec, grid,
                           *_draws(low, batch.batch_size, t1 - t0))
        apply(_gradients(low, rule, s, st, w1 - w0))
    return _result(low, state, st, batch.batch_size, rec if record else None)


#: steps per kernel call within an update window (bounds the memory of stochastic rounding's draws)
_CHUNK = 256


def _draws(low, batch_size: int, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``(UP, UZ)`` of :func:`_online_window`: the uniform draws the torch loop's trace projection takes over
    ``n_steps`` steps (:meth:`~neuromorph.hardware.numerics.ChipNumerics.uniform_steps`: every step the traces of x,
    z_{t-1}, 1, z and 1, in that order), side by side as the kernel holds the traces; one row each without draws."""
    g = low.chip.traces if low.chip is not None else None
    if g is None or g.kind != "int" or g.rounding != "stochastic":
        empty = np.zeros((1, 1, 1), _NP[low.dtype])
        return empty, empty
    B, n_in, n = batch_size, low.spec.n_in, low.spec.n_rec
    d = low.chip.uniform_steps(n_steps, ((B, n_in), (B, n), (B, 1), (B, n), (B, 1)), low.dtype)
    return torch.cat(d[:3], dim=2).numpy(), torch.cat(d[3:], dim=2).numpy()
