r"""The layered contrastive network as a network of the engine: one population, an input layer, a readout.

The two-layer energy network of :mod:`.models` (parameters :math:`W_1, W_2, b_1, b_2`) is the engine's
network (:class:`~neuromorph.network.NetworkSpec`) with a population of :math:`n_h + n_\mathrm{out}`
units, the hidden units first:

.. math::

    W^\mathrm{in} = \begin{pmatrix} W_1 \\ 0 \end{pmatrix}, \qquad
    W^\mathrm{rec} = \begin{pmatrix} 0 & W_2^\top \\ W_2 & 0 \end{pmatrix}, \qquad
    b = \begin{pmatrix} b_1 \\ b_2 \end{pmatrix}, \qquad
    W^\mathrm{out} = \begin{pmatrix} 0 & I \end{pmatrix}

and an instantaneous readout (:math:`y_t = \rho(u^\mathrm{out}_t)`): the drive
:math:`W^\mathrm{in}x + W^\mathrm{rec}z + b` is then exactly the energy's force
:math:`W_1 x + W_2^\top\rho(y) + b_1` on the hidden units and :math:`W_2\rho(h) + b_2` on the outputs.
The symmetric coupling is stored twice and learns twice the same Hebbian term
(:math:`g^\mathrm{rec} = z^\top z/B` is symmetric), so it stays symmetric; the absent blocks are
masked in the learner. The units are :class:`~neuromorph.dynamics.EnergyRateParameters` (``ep``,
``chl``) or :class:`~neuromorph.dynamics.FilteredLIFParameters` (``spiking``).
"""

from __future__ import annotations

import torch

from neuromorph.contrastive.models import NetSpec
from neuromorph.dynamics import Neuron, ReadoutParameters
from neuromorph.network import NetworkSpec, layered_masks
from neuromorph.plasticity import Target


def network_spec(neuron: Neuron, net: NetSpec) -> NetworkSpec:
    """The engine's network of ``net``'s sizes and step with the card's unit family ``neuron`` (module docstring);
    its parameters are :func:`neuromorph.network.layered` of :math:`(W_1, W_2, b_1, b_2)`."""
    return NetworkSpec(net.n_in, net.n_hidden + net.n_out, net.n_out, neuron, ReadoutParameters(tau_out=0.0), net.dt)


def masks(net: NetSpec, dtype: torch.dtype) -> dict[Target, torch.Tensor]:
    """1 where a synapse of the layered network exists (:func:`neuromorph.network.layered_masks`)."""
    return {Target(k): v for k, v in layered_masks(net.n_in, net.n_hidden, net.n_out, dtype).items()}
