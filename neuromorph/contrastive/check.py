"""The setup check for a contrastive card: can its rule run on a chip's learning engine?

The contrastive network is described to :func:`neuromorph.hardware.locality.assess` like any other:
all hidden and output units are recurrent (the Hopfield coupling is symmetric), with rate units for
EP and CHL and LIF neurons for the spiking variant; the optimiser is plain SGD at the per-step rate.
The rule's declared reads (:class:`~neuromorph.plasticity.contrastive.Contrastive`) decide the rest:
a chip-scope ``broadcast_signal`` is accepted where the profile lets a synapse read scope ``chip``
(ideal, brainscales2) and rejected, with the fix, elsewhere.
"""

from __future__ import annotations

from neuromorph.contrastive.card import ContrastiveCard
from neuromorph.dynamics.rate import RateParameters
from neuromorph.hardware.locality import Report, assess
from neuromorph.hardware.profile import load_profile
from neuromorph.network import NetworkSpec
from neuromorph.plasticity.contrastive import ClassicalContrastive, Contrastive
from neuromorph.plasticity.optim import OptimizerName, OptimizerSpec

TASK_SIZES = {"xor": (2, 2), "digits": (64, 10)}


def network_spec(card: ContrastiveCard) -> NetworkSpec:
    """The card's network as the setup check sees it."""
    n_in, n_out = TASK_SIZES[card.task.name]
    net = card.net_spec(n_in, n_out)
    n_rec = net.n_hidden + net.n_out
    if net.model == "spiking":
        return NetworkSpec(n_in, n_rec, n_out, net.lif, dt=net.dt)
    return NetworkSpec(n_in, n_rec, n_out, RateParameters(tau=net.tau), dt=net.dt)


def check_profile(card: ContrastiveCard, profile: str, *, classical: bool = False,
                  rule: Contrastive | ClassicalContrastive | None = None) -> Report:
    """The setup check's report for the card's rule (or ``rule``; ``classical`` for the two-phase
    reference) learning on chip under ``profile`` (an id or a .toml path)."""
    rule = rule or (ClassicalContrastive() if classical else card.rule_decl())
    steps = card.phases.steps
    lr = 2.0 * card.train.lr / steps * card.net_spec(1, 1).scale
    optimizer = OptimizerSpec(OptimizerName.SGD, lr=lr)
    return assess(load_profile(profile), "on_chip", rule, network_spec(card), optimizer, steps)
