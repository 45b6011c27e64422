r"""The NEST backend: :class:`NestBackend`, with the torch backend's call signatures.

Per batch, :func:`neuromorph.backends.nest.network.run_batch` builds the network in NEST 3.10 with the card's
weights, feedback, input raster and target, presents the ``B`` sequences one after another, and reads back the e-prop
gradient NEST's synapses computed; ``apply`` (the experiment's optimiser: SGD or Adam, weight decay, clipping)
then steps the weights exactly as it does for the torch backend. The loss, spike count and decision come
from NEST's recorded readout and spikes with neuromorph's functions (:mod:`neuromorph.plasticity.losses`):

.. math::

    E = \frac1B \sum_{b,t} m_t\, \tfrac12 \|y_{t,b} - y^*_{t,b}\|^2 \quad\text{or}\quad
    E = \frac1B \sum_{b,t} m_t\, \big(-\log \mathrm{softmax}(y_{t,b})_{y^*_{t,b}}\big)

Feedback. NEST filters the eligibility with :math:`\bar e^t = \kappa \bar e^{t-1} + (1-\kappa) e^t` whatever
the readout's scaling; neuromorph with :math:`s_\mathrm{out}`. The learning-signal weights are
:math:`B_{jk}\, s_\mathrm{out}/(1-\kappa)` (:func:`nest_feedback`), which makes the products equal.

References
----------
Bellec et al., Nat. Commun. 11:3625 (2020), eqs. (1)-(4) and Methods; NEST 3.10 model documentation of
``eprop_iaf_bsshslm_2020``, ``eprop_iaf_adapt_bsshslm_2020``, ``eprop_readout_bsshslm_2020``,
``eprop_synapse_bsshslm_2020`` and ``eprop_learning_signal_connection_bsshslm_2020``.
"""

from __future__ import annotations

import importlib.metadata

import numpy as np
import torch

from neuromorph.backends.base import Lowered, Recording, SequenceResult, check_inputs, check_training, masked_mean
from neuromorph.backends.nest.support import UnsupportedFeatureError, check_batch, check_supported
from neuromorph.errors import ConfigError
from neuromorph.network import NetworkSpec, Parameters
from neuromorph.plasticity.base import Target
from neuromorph.plasticity.losses import loss_value, output_error
from neuromorph.plasticity.three_factor import feedback_matrix
from neuromorph.types import LossKind, TrialBatch


def nest_version() -> str:
    """The installed nest-simulator's version ("" when it is not installed as a distribution)."""
    try:
        return importlib.metadata.version("nest-simulator")
    except importlib.metadata.PackageNotFoundError:
        return ""


def parse_threads(target) -> int:
    """NEST's thread count from the registry's ``target`` (``None``: 1; an int or its string)."""
    if target is None:
        return 1
    try:
        threads = int(target)
    except (TypeError, ValueError):
        raise ConfigError(f"the nest backend's option is its thread count (--nest-threads N), got {target!r}") from None
    if threads < 1:
        raise ConfigError(f"--nest-threads must be >= 1, got {threads}")
    return threads


def nest_feedback(spec: NetworkSpec, b: torch.Tensor) -> np.ndarray:
    r""":math:`B\, s_\mathrm{out}/(1-\kappa)`, (n_rec, n_out): NEST's learning-signal weights (module docstring)."""
    kappa, s_out = spec.readout.kappa(spec.dt), spec.readout.drive_scale(spec.dt)
    return b.detach().cpu().to(torch.float64).numpy() * (s_out / (1.0 - kappa))


def _host(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float64).numpy()


class NestBackend:
    """Runs e-prop batches in NEST 3.10 on ``target`` threads per process (default 1), on the MPI processes
    ``mpirun`` started (:mod:`neuromorph.backends.nest.mpi`; ``total_num_virtual_procs`` = threads x processes).

    Neither the number of threads nor that of processes changes the numbers beyond rounding (NEST's e-prop is
    deterministic, more virtual processes add a neuron's inputs in another order: docs/nest.md; the ranks'
    shares are gathered exactly), so they are recorded (``run_attrs``: ``nest_processes``, ``nest_threads``)
    but do not block a resume; the NEST version does (``attrs``: ``nest_version``). Under
    ``mpirun`` only rank 0 is the ``writer`` (the run file, checkpoints, progress and prints): every rank trains
    the same numbers, one writes them.
    """

    def __init__(self, target: str | int | None = None) -> None:
        from neuromorph.backends.nest.mpi import nest_ranks
        from neuromorph.backends.nest.network import nest_module

        self.threads = parse_threads(target)
        self.processes, self.rank = nest_ranks(nest_module)  # (1, 0) without mpirun (NEST is not imported then)
        self.writer = self.rank == 0
        version = nest_version()
        self.attrs = {"backend": "nest", "nest_version": version}
        self.run_attrs = {"nest_processes": self.processes, "nest_threads": self.threads}
        self.versions = {"nest-simulator": version} if version else {}

    def check(self, spec, rule, chip, n_steps: int) -> None:
        """Refuse at setup what NEST's e-prop models cannot express
        (:func:`neuromorph.backends.nest.support.check_supported`)."""
        check_supported(spec, rule, chip, n_steps)

    def close(self) -> None:
        """Nothing is kept between batches (every batch builds a fresh kernel)."""

    def train_curriculum(self, low, params, rule, curriculum):
        """Curricula (the contrastive studies' schedules) are refused: NEST runs e-prop only."""
        raise UnsupportedFeatureError(f"the nest backend cannot express the {getattr(rule, 'name', '?')!r} rule's "
                                      "curriculum (NEST 3.10 runs e-prop only); run it with --backend torch or brian2")

    # ------------------------------------------------------------------------------ training
    def train_sequence(
        self, low: Lowered, params: Parameters, feedback: torch.Tensor, rule, kind: LossKind, batch: TrialBatch,
        apply, initial_state=None, *, record: bool = False, generator=None, carry=None,
    ) -> SequenceResult:
        """:func:`neuromorph.backends.torch.train_sequence`, simulated by NEST (module docstring)."""
        from neuromorph.backends.nest.network import run_batch

        check_inputs(low.spec, batch.inputs)
        if initial_state is not None:
            raise UnsupportedFeatureError("the nest backend cannot express a sequence that starts from a carried "
                                          "state (NEST resets its neurons at every update); use --backend torch")
        check_supported(low.spec, rule, low.chip, batch.n_steps)
        check_training(low, rule, params)
        window = check_batch(low.spec, rule, batch, params)
        spec = low.spec
        learned = frozenset(t.value for t in rule.targets if t is not Target.B_OUT)
        weights = {name: _host(getattr(params, name)) for name in ("w_in", "w_rec", "w_out")}
        y, z, grads = run_batch(spec, weights, nest_feedback(spec, feedback_matrix(rule, params, feedback)),
                                _host(batch.inputs) > 0.5, _targets(kind, batch, spec.n_out), window,
                                kind is LossKind.CLASSIFICATION, learned, rule.regularization.strength,
                                rule.regularization.target_hz, self.threads, _betas(spec), b_out=_host(params.b_out))
        y_t = torch.as_tensor(y, dtype=low.dtype, device=low.device)
        z_t = torch.as_tensor(z, dtype=low.dtype, device=low.device)
        grads = {Target(name): torch.as_tensor(g, dtype=low.dtype, device=low.device) for name, g in grads.items()}
        if Target.B_OUT in rule.targets:
            grads[Target.B_OUT] = readout_bias_gradient(spec, output_error(kind, y_t, batch.targets, batch.mask))
        apply(grads)
        loss = loss_value(kind, y_t, batch.targets, batch.mask)
        return SequenceResult(float(loss), float(z_t.sum()), masked_mean(y_t, batch.mask), y_t if record else None,
                              z_t if record else None, {})

    # ------------------------------------------------------------------------------ simulation
    def simulate(self, low: Lowered, params: Parameters, inputs: torch.Tensor) -> Recording:
        """Forward-only simulation in NEST: spikes, recurrent membranes and readout, (T, B, ·)."""
        from neuromorph.backends.nest.network import run_batch

        check_inputs(low.spec, inputs)
        check_supported(low.spec, None, low.chip)
        spec = low.spec
        n_steps, n_batch = inputs.shape[:2]
        weights = {name: _host(getattr(params, name)) for name in ("w_in", "w_rec", "w_out")}
        y, z, _, v = run_batch(spec, weights, np.zeros((spec.n_rec, spec.n_out)), _host(inputs) > 0.5,
                               np.zeros((n_steps, n_batch, spec.n_out)), n_steps, False, frozenset(), 0.0, 0.0,
                               self.threads, _betas(spec), membrane=True, b_out=_host(params.b_out))
        as_t = lambda a: torch.as_tensor(a, dtype=low.dtype, device=low.device)
        return Recording(as_t(z), as_t(v), as_t(y))


def readout_bias_gradient(spec: NetworkSpec, delta: torch.Tensor) -> torch.Tensor:
    r""":math:`\partial E/\partial b^\mathrm{out}_k = \sum_{t,b} \delta_{t,b,k}\, F^\kappa_t(s_\mathrm{out})`, from
    NEST's recorded readout.

    NEST has no learned readout bias: the backend presents :math:`b^\mathrm{out}` as a current into the readouts
    during every sequence (:func:`neuromorph.backends.nest.network.readout_current`) and takes its gradient, the
    readout's own quantity, from the output error :math:`\delta` (T, B, n_out) of the recorded readout and the filtered
    constant :math:`F^\kappa_t = \kappa F^\kappa_{t-1} + s_\mathrm{out}` (the torch backend's ``out_bias_trace``;
    Bellec et al. 2020, Methods, output weights with a constant input).
    """
    from neuromorph.backends.torch.compiled import causal_filter

    ones = torch.ones(delta.shape[0], 1, dtype=delta.dtype)
    trace = causal_filter(ones, spec.readout.kappa(spec.dt), spec.readout.drive_scale(spec.dt))[:, 0]
    return torch.einsum("tbk,t->k", delta, trace.to(delta.device))


def _targets(kind: LossKind, batch: TrialBatch, n_out: int) -> np.ndarray:
    """The target signal of every readout, (T, B, n_out): the target, or the class one-hot."""
    if kind is LossKind.CLASSIFICATION:
        return np.eye(n_out)[batch.targets.detach().cpu().numpy()]
    return _host(batch.targets)


def _betas(spec: NetworkSpec) -> np.ndarray | None:
    """ALIF's per-neuron adaptation strengths (None for LIF)."""
    if not spec.adaptive:
        return None
    return spec.neuron.beta_tensor(spec.n_rec, torch.float64).numpy()
