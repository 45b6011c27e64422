"""Bias-only tuning studies: random fixed weights, learned biases (Williams et al., ICLR 2025; docs/bias.md).

Bias-only learning is not a separate rule: it is any rule with ``targets = {bias}``, so the
presynaptic factor is the constant 1 and the eligibility is one trace per neuron (docs/eprop.md).
This package runs the studies around it: :mod:`.study` reads the cards, :mod:`.run` runs them,
:mod:`.evaluate` measures the trained networks and :mod:`neuromorph.storage.bias` writes the summary.
"""
