r"""Brian2 code of each learning rule, registered by the exact rule class in :data:`RULE_CODE`.

Both rules are three-factor rules (:mod:`neuromorph.plasticity.three_factor`): per synapse (or
neuron, for the bias and threshold) an eligibility :math:`e`, its κ-filtered :math:`\bar e` and
the window sums :math:`A = \sum L\bar e`, :math:`S = \sum e` (:func:`.equations.eligibility_code`).
An entry (:class:`RuleCode`) gives what differs: the presynaptic factor the eligibility reads,
the lines that compute ``elig``, the per-synapse state this needs, and the rule's *layout
extras* (RFLO's decay), hashed into the :class:`~.network.Layout` so that one build serves one
choice. The table is keyed by the exact class; any other rule is refused at setup
(:func:`.support.rule_code`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np
import torch

from neuromorph.backends.base import Lowered
from neuromorph.backends.brian2.equations import Constants, _num
from neuromorph.network import Parameters
from neuromorph.plasticity import RFLO, EProp
from neuromorph.plasticity.rflo import fixed_decay

#: a per-neuron value of the hidden group computed from the weights at every write (RFLO's W_jj)
FromWeights = Callable[[Parameters], torch.Tensor]


@dataclass(frozen=True)
class RuleCode:
    """One rule's brian2 code.

    ``pre``: the presynaptic factor of the input, recurrent and bias eligibilities (as seen from the
    synapse, or the hidden group for the bias); ``eligibility(k, pre, post, suffix)``: the lines that
    compute ``elig``; ``synapse_state(k)``: per-synapse variables beyond ``w, ebar, acc, acce``;
    ``extras(rule, low)``: the layout extras; ``before_step(k)``: hidden-group lines before the neuron
    steps; ``constants(extras)``: per-neuron values fixed for the run; ``from_weights(extras)``:
    per-neuron values derived from the weights; ``observed``: the keys of the recorded rule state.
    """

    pre: tuple[str, str, str]
    eligibility: Callable[[Constants, str, str, str], list[str]]
    synapse_state: Callable[[Constants], tuple[str, ...]]
    observed: tuple[str, ...]
    extras: Callable[[object, Lowered], Hashable] = lambda rule, low: None
    before_step: Callable[[Constants], list[str]] = lambda k: []
    constants: Callable[[Hashable], dict[str, np.ndarray]] = lambda extras: {}
    from_weights: Callable[[Hashable], dict[str, FromWeights]] = lambda extras: {}


# ------------------------------------------------------------------------------------------ e-prop
def eprop_eligibility(k: Constants, pre: str, post: str, suffix: str) -> list[str]:
    r"""e-prop's eligibility (:func:`~neuromorph.plasticity.eprop_online.online_step`); ``pre`` is the trace :math:`P_i`.

    .. math::

        e = \psi_j P_i - \beta_j\psi_j\,\epsilon^a, \qquad
        \epsilon^a \leftarrow \psi_j P_i + (\rho - \beta_j\psi_j)\,\epsilon^a

    with the adaptation terms only when the neuron states them (``low.consts.beta``).
    """
    if not k.c.adaptive:
        return [f"elig = psi{post}*({pre})"]
    epsa = f"epsa{suffix}"
    return [f"edrive = psi{post}*({pre})",
            f"elig = edrive - (beta{post}*psi{post})*{epsa}",
            f"{epsa} = edrive + ({_num(k.c.rho)} - beta{post}*psi{post})*{epsa}"]


EPROP_CODE = RuleCode(
    pre=("P_pre", "P_rec_pre", "P_b"),
    eligibility=eprop_eligibility,
    synapse_state=lambda k: ("epsa",) if k.c.adaptive else (),
    observed=("pre_trace_in", "pre_trace_rec", "post_term", "learning_signal", "output_error"),
)


# ------------------------------------------------------------------------------------------ RFLO
def rflo_eligibility(k: Constants, pre: str, post: str, suffix: str) -> list[str]:
    r"""RFLO's eligibility (:func:`~neuromorph.plasticity.rflo.rflo_online_step`); ``pre`` is the raw activity.

    :math:`E \leftarrow d_j E + s\,\mathrm{pre}_i`, :math:`e = \psi_j E`.
    """
    e = f"E{suffix}"
    return [f"{e} = dj{post}*{e} + {_num(k.c.s_in)}*({pre})", f"elig = psi{post}*{e}"]


def rflo_extras(rule: RFLO, low: Lowered) -> tuple[float, ...] | str:
    """RFLO's decay as the layout holds it: per-neuron values, or ``"jacobian"``."""
    decay = fixed_decay(rule, low.consts, low.spec.n_rec, torch.float64)
    return "jacobian" if decay is None else tuple(decay.tolist())


def rflo_before_step(k: Constants) -> list[str]:
    """RFLO's Jacobian decay :math:`d_j = \\alpha + s W_{jj}\\psi_j^{t-1}`, before ``psi`` moves on."""
    return [f"dj = {_num(k.c.alpha)} + {_num(k.c.s_in)}*wdiag*psi"] if k.extras == "jacobian" else []


RFLO_CODE = RuleCode(
    pre=("x_pre", "zp_pre", "1"),  # RFLO filters the raw activity, with the postsynaptic decay
    eligibility=rflo_eligibility,
    synapse_state=lambda k: ("E",),
    observed=("post_term", "learning_signal", "output_error", "trace_decay"),  # its trace is per synapse
    extras=rflo_extras,
    before_step=rflo_before_step,
    constants=lambda extras: {} if extras == "jacobian" else {"dj": np.asarray(extras, dtype=np.float64)},
    from_weights=lambda extras: {"wdiag": lambda p: torch.diagonal(p.w_rec)} if extras == "jacobian" else {},
)

#: brian2 code of each rule, by exact class (a subclass may compute differently, so it is refused).
RULE_CODE: dict[type, RuleCode] = {EProp: EPROP_CODE, RFLO: RFLO_CODE}
