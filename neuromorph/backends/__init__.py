"""Backends lower (network, rule, profile) and run the time loop; :mod:`.registry` maps names to them.

``base`` holds what they share (the lowered network and its reference step, results, setup checks);
``torch`` is the reference backend, ``brian2`` lowers the same spec to brian2 equations. Backends
never import each other.
"""
