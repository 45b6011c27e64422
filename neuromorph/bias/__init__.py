"""Bias-only tuning studies: random fixed weights, learned biases (THEORY.md §2, Williams et al. 2025).

Bias-only learning is not a separate rule: it is any rule with ``targets = {bias}``, so the
presynaptic factor is the constant 1 and the eligibility is one trace per neuron (THEORY.md §5.3).
This package runs the studies around it: :mod:`.study` reads the cards, :mod:`.run` runs them,
:mod:`.evaluate` measures the trained networks and :mod:`neuromorph.storage.bias` writes the summary.
"""
