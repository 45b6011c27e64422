r"""Training and simulation in brian2, with the torch backend's call signatures.

:class:`Brian2Backend` keeps one built network per layout (batch size, sequence length, targets,
loss, recording), so a training run builds and compiles once. Per sequence it writes the weights
and trials, runs the update windows (``rule.update_interval`` steps, or the whole sequence),
and after each window hands the gradient

.. math::

    g_{ji} = \sum_b A^b_{ji} + r_j \sum_b S^b_{ji}

(the accumulators of :mod:`neuromorph.plasticity.eprop_online`, summed over the batch copies;
:math:`r_j` the firing-rate term) to ``apply``, exactly where the torch backend does. The loss,
spike count and decision come from the recorded readout and spikes with the same functions.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from neuromorph.backends.base import (
    ApplyFn,
    Curriculum,
    CurriculumResult,
    Lowered,
    Recording,
    SequenceResult,
    check_inputs,
    check_training,
    masked_mean,
)
from neuromorph.backends.brian2.contrastive import layered_network, run_curriculum, shape_of
from neuromorph.backends.brian2.contrastive_network import ContrastiveNetwork
from neuromorph.backends.brian2.network import Brian2Network, Layout
from neuromorph.backends.brian2.support import check_supported, check_target, rule_code
from neuromorph.errors import ConfigError
from neuromorph.network import Parameters
from neuromorph.plasticity.eprop_online import OnlineState, online_gradients
from neuromorph.plasticity.losses import loss_value
from neuromorph.plasticity.three_factor import ThreeFactorRule, feedback_matrix
from neuromorph.types import LossKind, TrialBatch


class Brian2Backend:
    """Runs sequences in brian2 on ``target`` (numpy, cython or cpp_standalone).

    ``directory`` holds the cpp_standalone project (a fresh temporary directory by default).
    Only one cpp_standalone network can be built per process at a time (brian2's device is global).
    """

    def __init__(self, target: str = "numpy", directory: str | os.PathLike[str] | None = None) -> None:
        check_target(target)
        self.target = target
        self.attrs = {"backend": "brian2", "brian2_target": target}
        self.directory = Path(directory) if directory is not None else None
        self._built: dict[tuple, Brian2Network] = {}
        self._builds = 0
        self.build_seconds = 0.0  #: time spent building (and compiling) networks

    def network(self, low: Lowered, layout: Layout) -> Brian2Network:
        """The built network of ``layout`` (built, and compiled, on first use)."""
        key = (layout, low.dtype, low.chip)  # the constants follow from the spec; a chip is keyed (and kept) as itself
        return self._cached(key, lambda directory: Brian2Network(layout, low.consts, low.chip, self.target, directory))

    def _cached(self, key: tuple, build):
        """The network built as ``build(directory)`` for ``key``, built (and compiled) on first use."""
        if key not in self._built:
            import time

            if self.target == "cpp_standalone" and self._built:
                self.close()  # one standalone device per process
            start = time.perf_counter()
            self._builds += 1  # each standalone build gets its own project directory
            directory = self.directory / f"build{self._builds}" if self.directory is not None else None
            self._built[key] = build(directory)
            self.build_seconds += time.perf_counter() - start
        return self._built[key]

    def close(self) -> None:
        """Forget the built networks, remove their temporary standalone projects, reset brian2's device."""
        for net in self._built.values():
            net.close()
        self._built.clear()

    def check(self, spec, rule, chip, n_steps: int) -> None:
        """Refuse at setup what the brian2 lowering cannot run
        (:func:`neuromorph.backends.brian2.support.check_supported`)."""
        check_supported(spec, rule, chip, self.target, getattr(rule, "update_interval", None), n_steps)

    # ------------------------------------------------------------------------------ training
    def train_sequence(
        self, low: Lowered, params: Parameters, feedback: torch.Tensor, rule: ThreeFactorRule, kind: LossKind,
        batch: TrialBatch, apply: ApplyFn, initial_state=None, record: bool = False, generator=None, carry=None,
    ) -> SequenceResult:
        """:func:`neuromorph.backends.torch.train_sequence`, simulated by brian2."""
        check_inputs(low.spec, batch.inputs)
        if initial_state is not None:
            raise ConfigError("the brian2 backend starts every sequence from rest; initial_state is not supported")
        n_steps = batch.n_steps
        check_supported(low.spec, rule, low.chip, self.target, rule.update_interval, n_steps)
        check_training(low, rule, params)
        # always record batch copy 0's rule state (small), so that recorded and plain iterations share one
        # build: a cpp_standalone network would otherwise be rebuilt at every checkpoint
        layout = Layout(low.spec, batch.batch_size, n_steps, frozenset(rule.targets), kind is LossKind.CLASSIFICATION,
                        True, type(rule), rule_code(type(rule)).extras(rule, low))
        net = self.network(low, layout)
        params = _filled(params, low)
        arrays = net.trial_arrays(batch.inputs, batch.targets, batch.mask)
        interval = rule.update_interval or n_steps
        if net.standalone:
            net.run_standalone(params, feedback_matrix(rule, params, feedback), arrays)
            self._update(net, rule, low, apply, 0, n_steps)
        else:
            net.start(params, feedback_matrix(rule, params, feedback), arrays)
            for start in range(0, n_steps, interval):
                steps = min(interval, n_steps - start)
                net.run(steps)
                self._update(net, rule, low, apply, start, start + steps)
                net.clear_accumulators()
                net.set_parameters(params, feedback_matrix(rule, params, feedback))  # ``apply`` changed them in place
        y = torch.as_tensor(net.outputs(), dtype=low.dtype)
        z = torch.as_tensor(net.raster(n_steps), dtype=low.dtype)
        loss = loss_value(kind, y, batch.targets, batch.mask)
        rule_state = {k: torch.as_tensor(v, dtype=low.dtype) for k, v in net.rule_state().items()} if record else {}
        return SequenceResult(float(loss), float(z.sum()), masked_mean(y, batch.mask), y if record else None,
                              z if record else None, rule_state)

    def _update(self, net: Brian2Network, rule: ThreeFactorRule, low: Lowered, apply: ApplyFn, start: int, stop: int) -> None:
        """Hand the window's gradient to ``apply`` through :func:`online_gradients` (rate term included; the network
        keeps the window's sum of e per batch copy, summed here unless ``rule.regularization.rate = "sequence"``)."""
        dtype = torch.float64
        per_sequence = rule.regularization.per_sequence
        acc, acc_e, ebar = {}, {}, {}
        for target, (a, s, e) in net.accumulators().items():
            acc[target] = torch.as_tensor(a.sum(0), dtype=dtype)
            if s is not None:
                acc_e[target] = torch.as_tensor(s if per_sequence else s.sum(0), dtype=dtype)
                ebar[target] = torch.as_tensor(e, dtype=dtype)
        spikes = net.raster(stop)[start:stop].sum(0)  # (B, n_rec)
        state = OnlineState(ebar=ebar, eps_a={}, trace={}, acc=acc, acc_e=acc_e,
                            spike_count=torch.as_tensor(spikes, dtype=dtype), steps=stop - start)
        grads, _ = online_gradients(state, rule.regularization, low.spec.dt)
        apply({t: g.to(low.dtype) for t, g in grads.items()})

    # ------------------------------------------------------------------------------ curricula
    def train_curriculum(self, low: Lowered, params: Parameters, rule, curriculum: Curriculum) -> CurriculumResult:
        """A whole :class:`~neuromorph.backends.base.Curriculum` as one brian2 run
        (:mod:`~neuromorph.backends.brian2.contrastive`)."""
        net = layered_network(low, rule, params)
        shape = shape_of(net, curriculum)
        baseline = float(getattr(rule, "baseline_steps", 0.0))  # the classical rule has none
        network = self._cached(("curriculum", shape, baseline),
                               lambda directory: ContrastiveNetwork(shape, self.target, directory, baseline))
        return run_curriculum(network, low, params, rule, curriculum)

    # ------------------------------------------------------------------------------ simulation
    def simulate(self, low: Lowered, params: Parameters, inputs: torch.Tensor) -> Recording:
        """Forward-only simulation: :func:`neuromorph.backends.torch.simulate` in brian2."""
        check_inputs(low.spec, inputs)
        check_supported(low.spec, None, low.chip, self.target)
        n_steps, n_batch = inputs.shape[:2]
        layout = Layout(low.spec, n_batch, n_steps, frozenset(), False, True)
        net = self.network(low, layout)
        params = _filled(params, low)
        dummy = torch.zeros(n_steps, n_batch, low.spec.n_out)
        arrays = net.trial_arrays(inputs, dummy, torch.zeros(n_steps, n_batch))
        if net.standalone:
            net.run_standalone(params, None, arrays)
        else:
            net.start(params, None, arrays)
            net.run(n_steps)
        as_tensor = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=low.dtype)
        return Recording(as_tensor(net.raster(n_steps)), as_tensor(net.membrane()), as_tensor(net.outputs()))


def _filled(params: Parameters, low: Lowered) -> Parameters:
    if params.threshold is None:
        return params._replace(threshold=torch.zeros(low.spec.n_rec, dtype=low.dtype))
    return params
