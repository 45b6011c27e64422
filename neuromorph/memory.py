"""A lower bound on the memory a training run allocates, checked against the memory available.

A card with ``network.n_rec = 1000000`` or ``task.n_steps = 100000000`` would otherwise end in
torch's allocation error (or the kernel's OOM killer) after the run has started. The estimate
counts only what every backend certainly holds: the parameters with their gradients, two Adam
moments and the update's copy (six copies of every weight), and one batch of inputs, targets,
masks and the recorded state (spikes or rates, membrane, output) per time step. It is a lower
bound, so a refusal is never a false alarm; a run that passes may still need more.
"""

from __future__ import annotations

import os
from pathlib import Path

from neuromorph.errors import ConfigError

#: Copies of every weight matrix a step holds: value, gradient, two Adam moments, the old value
#: (decoupled decay, chip rounding) and the update itself.
WEIGHT_COPIES = 6
#: Per time step and trial: the recorded state z and the membrane v, per recurrent neuron.
STATE_PER_NEURON = 2
#: Per time step and trial: the output, the target and the mask, per output.
PER_OUTPUT = 3


def available_bytes() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` (bytes), else the free physical pages; None if unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def run_bytes(n_in: int, n_rec: int, n_out: int, n_steps: int, batch_size: int, itemsize: int) -> int:
    """The lower bound (bytes) described in the module docstring."""
    weights = n_in * n_rec + n_rec * n_rec + 2 * n_rec * n_out + n_rec + n_out  # feedback B as big as W_out
    per_step = batch_size * (n_in + STATE_PER_NEURON * n_rec + PER_OUTPUT * n_out)
    return itemsize * (WEIGHT_COPIES * weights + n_steps * per_step)


def check_memory(spec, where: str, available: int | None = None) -> None:
    """Raise :class:`ConfigError` (with the numbers) when ``spec`` (a RunSpec) cannot fit in memory."""
    available = available_bytes() if available is None else available
    if available is None:
        return
    net, task, train = spec.network, spec.task, spec.train
    itemsize = 4 if train.precision.value == "float32" else 8
    need = run_bytes(net.n_in, net.n_rec, net.n_out, int(task.n_steps), train.batch_size, itemsize)
    if need > available:
        raise ConfigError(
            f"{where}: the run needs at least {need / 2**30:.3g} GiB (network.n_rec = {net.n_rec}, "
            f"task.n_steps = {task.n_steps}, train.batch_size = {train.batch_size}, {train.precision.value}) "
            f"but {available / 2**30:.3g} GiB are available; reduce network.n_rec, task.n_steps or train.batch_size"
        )
