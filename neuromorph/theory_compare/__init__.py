"""``neuromorph theory compare``: learning in the linear-rate mode beside the analytic theory.

An experiment-layer package: it uses the theory (numpy/scipy), the torch backend's rules on
linear-rate networks, storage and the theory figures. Modules:

card      the comparison card (TOML) and its validation
learning  population GD and SGD through the torch rules, against the per-mode ODEs
rank      the rank restriction of RFLO updates and its negative controls
store     the HDF5 layout, written atomically
run       orchestration, the printed table and the figures
"""
