r"""Evaluating trained bias-learning networks: test accuracy, free-running and closed-loop error,
and the Jacobian of a rate network at its fixed point.

For rate units (:mod:`neuromorph.dynamics.rate`) without input the network is the map

.. math::

    u_t = (1-a)\,u_{t-1} + a\,(W \phi(u_{t-1}) + b), \qquad
    J = \frac{\partial u_t}{\partial u_{t-1}} = (1-a) I + a\, W \operatorname{diag}\phi'(u)

A fixed point :math:`u^* = W\phi(u^*) + b` is unstable exactly when an eigenvalue of the effective
connectivity :math:`W \operatorname{diag}\phi'(u^*)` lies outside the circle of radius
:math:`1/a` centred on :math:`1 - 1/a` (for small :math:`a`, when its real part exceeds 1).
Biases move :math:`u^*` and so rescale the columns of :math:`W` by :math:`\phi'(u^*)`: this is how
learning the biases alone can turn a random network into an oscillator (Williams et al. 2025,
Figs. 2-3).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import root

from neuromorph.backends.torch import lower, simulate
from neuromorph.dynamics.rate import Activation
from neuromorph.network import NetworkSpec, Parameters
from neuromorph.tasks import DigitsTask, TrajectoryTask
from neuromorph.tasks.dynamical import lorenz_series


def held_out_accuracy(spec: NetworkSpec, params: Parameters, task: DigitsTask) -> float:
    """Fraction of the held-out images classified correctly (readout at the last step)."""
    batch = task.test_set()
    low = lower(spec, params.w_in.dtype)
    y = simulate(low, params, batch.inputs.to(params.w_in.dtype)).y[-1]
    return float((y.argmax(-1) == batch.targets[-1]).double().mean())


def nmse(y: np.ndarray, target: np.ndarray) -> float:
    r"""Normalised mean squared error :math:`\langle\|y - y^*\|^2\rangle / \langle\|y^*\|^2\rangle`."""
    return float(((y - target) ** 2).sum(-1).mean() / (target**2).sum(-1).mean())


def free_run(
    spec: NetworkSpec, params: Parameters, task: TrajectoryTask, n_steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run a generation network for ``n_steps`` (beyond its training horizon).

    Returns the output and the target, (T, 2) each, and the pre-activations :math:`u_t`, (T, n_rec).
    """
    low = lower(spec, params.w_in.dtype)
    cue = torch.as_tensor(task.cue(n_steps), dtype=params.w_in.dtype)[:, None, :]
    rec = simulate(low, params, cue)
    return rec.y[:, 0].numpy(), task.trajectory(n_steps), rec.v[:, 0].numpy()


def _phi(activation: Activation):
    return {
        Activation.TANH: (np.tanh, lambda u: 1.0 - np.tanh(u) ** 2),
        Activation.RELU: (lambda u: np.maximum(u, 0.0), lambda u: (u > 0).astype(float)),
        Activation.LINEAR: (lambda u: u, lambda u: np.ones_like(u)),
    }[activation]


def fixed_point_eigenvalues(spec: NetworkSpec, params: Parameters, guess: np.ndarray) -> tuple[np.ndarray, bool]:
    r"""Eigenvalues of :math:`W\operatorname{diag}\phi'(u^*)` at the fixed point nearest ``guess``.

    Returns ``(eigenvalues, converged)``; with ``converged = False`` the eigenvalues are taken at
    ``guess`` itself.
    """
    phi, dphi = _phi(spec.neuron.activation)
    w, b = params.w_rec.double().numpy(), params.bias.double().numpy()
    sol = root(lambda u: u - w @ phi(u) - b, guess, jac=lambda u: np.eye(len(u)) - w * dphi(u)[None, :], tol=1e-12)
    u = sol.x if sol.success else guess
    return np.linalg.eigvals(w * dphi(u)[None, :]), bool(sol.success)


def closed_loop(
    spec: NetworkSpec, params: Parameters, task: TrajectoryTask, warmup: int, n_steps: int, seed: int
) -> dict[str, np.ndarray]:
    r"""Forecast a fresh Lorenz trajectory teacher-forced and in closed loop.

    Teacher-forced: the input at step t is the true :math:`x(t)`. Closed loop: for the first
    ``warmup`` steps the input is the true :math:`x(t)`; after that it is the network's own forecast
    of :math:`x(t)`, made ``lag`` steps earlier (:math:`\hat x(t) = y_{t-\ell}`), so errors compound.
    Returns the target :math:`x(t+\ell)` and both forecasts, each (n_steps,).
    """
    lag = task.lag
    series = lorenz_series(max(task.series_length, n_steps + lag + 1), task.sample_dt, seed)
    x, target = series[:n_steps], series[lag:n_steps + lag]
    dtype = params.w_in.dtype
    low = lower(spec, dtype)
    inputs = torch.as_tensor(x, dtype=dtype)[:, None, None]
    forced = simulate(low, params, inputs).y[:, 0, 0].numpy()
    state, ys = low.initial_state(1), []
    with torch.no_grad():
        for t in range(n_steps):
            x_t = inputs[t] if t < warmup else ys[t - lag].reshape(1, 1)
            _, _, state = low.step(params, state, x_t)
            ys.append(state.y[:, :1])
    closed = torch.cat(ys)[:, 0].numpy()
    return {"target": target, "teacher_forced": forced, "closed_loop": closed}
