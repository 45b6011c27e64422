"""An independent numpy replay of Loihi-1's learning engine, as Davies et al. (2018) and as brian2-loihi run it.

Written from the equations in ``neuromorph/export/b2l_learning.py``'s docstring (impulses in the
synapses slot, then rule, weight and trace updates from the same values in the groups slot), not
from brian2-loihi's code, and vectorised over ``runs`` independent stochastic-rounding draws.

``engine="loihi"``: the engine as published: traces decay with stochastic rounding of their own
fraction; a weight change is rounded away from zero to an integer and then stochastically to the
mantissa precision (Davies et al. 2018, p. 91).

``engine="brian2-loihi"``: what brian2-loihi 0.5.2 under brian2 2.9 (numpy target) executes, measured
and pinned in ``test_b2l_learning.py``: its random parts are brian2 ``(constant over dt)``
subexpressions, which brian2 evaluates in the ``before_start`` slot, i.e. from the previous step's
values. So a trace's stochastic carry is the fraction of the *previous* value's decay (it differs
from the fresh fraction only in a step with an impulse), and the weight's stochastic carry is
computed from a rule value in which brian2 folds a ``2^-k`` factor to 0 (the generated code reads
``dw_rounded = 0``): every rule with a negative exponent updates the weight deterministically by
``p * trunc(round_away(dw) / p)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

ENGINES = ("loihi", "brian2-loihi")


def replay(rule: Callable[..., np.ndarray], w0: np.ndarray, arrivals: dict[str, np.ndarray], traces: dict,
           runs: int, rng: np.random.Generator, engine: str = "brian2-loihi", precision: int = 2, lo: int = -256,
           hi: int = 254) -> np.ndarray:
    """Final weight mantissas of ``runs`` replays, shape (runs, n_synapses).

    ``arrivals[name]`` (T, n_synapses) bool: a spike *arrives* at the synapse in that step (``x``: pre
    spikes, ``y``: post spikes, others: spikes driving only a trace). ``traces[name] = (impulse, tau,
    source)``: trace ``name`` gets ``impulse`` (clipped to 127) when ``arrivals[source]`` and decays by
    ``1 - 1/tau``. ``rule(x0=, [y0=,] x1=, ...)`` is the rule's value.
    """
    if engine not in ENGINES:
        raise ValueError(engine)
    steps, n = next(iter(arrivals.values())).shape
    w = np.broadcast_to(np.asarray(w0, dtype=np.float64), (runs, n)).copy()
    state = {name: np.zeros((runs, n)) for name in traces}
    for t in range(steps):
        previous = {name: value.copy() for name, value in state.items()}  # values at before_start
        for name, (impulse, _, source) in traces.items():
            state[name] = np.where(arrivals[source][t], np.clip(state[name] + impulse, 0, 127), state[name])
        deps = {"x0": np.broadcast_to(arrivals["x"][t], (runs, n)).astype(np.float64)}
        if "y" in arrivals:
            deps["y0"] = np.broadcast_to(arrivals["y"][t], (runs, n)).astype(np.float64)
        delta = rule(**deps, **state)
        d = np.sign(delta) * np.ceil(np.abs(delta))  # away from zero to an integer
        quotient = np.trunc(d / precision)
        carry = np.sign(d) * ((np.abs(d) % precision) / precision > rng.random((runs, n)))
        w = np.clip(w + (quotient + (carry if engine == "loihi" else 0)) * precision, lo, hi)
        for name, (_, tau, _) in traces.items():
            decayed = state[name] * (1 - 1.0 / tau)
            source = decayed if engine == "loihi" else previous[name] * (1 - 1.0 / tau)
            state[name] = np.trunc(decayed) + (source - np.trunc(source) > rng.random((runs, n)))
    return w
