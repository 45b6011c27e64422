"""Temporally local contrastive learning (Williams, Bredenberg & Lajoie, ICML 2023; docs/contrastive.md).

``phases`` (phase processes, importance weights), ``models`` (EP, CHL, spiking LIF), ``train`` (the
classical, periodic and random schemes), ``kappa`` (the transient shrinkage law), ``estimators``
(checks 19 and 21), ``card``, ``data``, ``store``, ``check`` (the setup check) and ``run``
(``neuromorph contrastive``). The rule declarations live in :mod:`neuromorph.plasticity.contrastive`, the
figures in :mod:`neuromorph.plots.contrastive`.
"""
