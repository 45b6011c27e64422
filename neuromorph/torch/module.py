r"""A neuromorph network as a ``torch.nn.Module``: autograd through the network step, or a local rule's update.

:class:`Network` holds a :class:`~neuromorph.network.NetworkSpec` and its trained tensors as registered
``nn.Parameter`` objects (``w_in``, ``w_rec``, ``w_out``, ``bias``, ``b_out`` and, where present,
``threshold``; post × pre), with the feedback matrix :math:`B` a buffer. Two ways to train it:

* **autograd**: :meth:`Network.forward` runs the reference step
  (:meth:`~neuromorph.backends.base.Lowered.step`) through
  :func:`~neuromorph.backends.torch.simulate.differentiable_run` when gradients are wanted, so a loss on
  its readout back-propagates through time into the parameters and into whatever module produced the
  inputs (BPTT through a composed model);
* **a local rule**: :meth:`Network.local_grads` runs one batch through
  :func:`~neuromorph.backends.torch.train.train_sequence` with a rule (e-prop, RFLO, BPTT, ...) and writes
  the rule's update into ``.grad`` of the parameters it targets, so that any ``torch.optim`` optimiser
  applies it::

      opt = torch.optim.SGD(net.parameters(), lr=1e-3)
      opt.zero_grad()
      net.local_grads(EProp(), batch, LossKind.REGRESSION)
      opt.step()

With ``torch.optim.SGD`` this is the update of :class:`neuromorph.engine.Session` with an SGD
:class:`~neuromorph.plasticity.OptimizerSpec` (``tests/test_torch_module.py``). ``docs/torch_module.md`` says
what the wrapper leaves to the caller (adaptive feedback, clipping, chip profiles).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from neuromorph.backends.base import Lowered, NetworkState, SequenceResult, lower
from neuromorph.backends.torch.simulate import differentiable_run, simulate
from neuromorph.backends.torch.train import train_sequence
from neuromorph.errors import ConfigError
from neuromorph.network import InitSpec, NetworkSpec, Parameters, check_parameters, init_parameters
from neuromorph.plasticity import Feedback, Rule, Target
from neuromorph.types import LossKind, TrialBatch

__all__ = ["Network", "Output"]

#: The trained tensors, in :class:`~neuromorph.network.Parameters` order (the names of the registered parameters).
PARAMETER_NAMES = Parameters._fields


class Output(NamedTuple):
    """What :meth:`Network.forward` returns, time-major."""

    y: torch.Tensor  #: (T, B, n_out) readout
    z: torch.Tensor  #: (T, B, n_rec) spikes (rates for rate units)
    v: torch.Tensor | None = None  #: (T, B, n_rec) membrane (pre-reset); ``None`` from the autograd path


class Network(nn.Module):
    r"""A network of :mod:`neuromorph` as a ``torch.nn.Module`` (module docstring).

    Parameters
    ----------
    spec : NetworkSpec
        Sizes, neuron, readout and time step.
    params : Parameters, optional
        The initial weights (post × pre; copied). Left out, they are drawn with
        :func:`~neuromorph.network.init_parameters` from ``init`` and ``generator``, and so is ``feedback``.
    feedback : Tensor, optional
        The feedback matrix :math:`B`, shape (n_rec, n_out), stored as the buffer ``feedback``. Only rules with
        random feedback read it; with ``params`` given and no ``feedback`` the buffer is ``None``.
    init : InitSpec, optional
        Initialisation scales when ``params`` is left out (default :class:`~neuromorph.network.InitSpec`).
    generator : torch.Generator, optional
        The generator the parameters are drawn from (default: a CPU generator seeded with 0).
    dtype : torch.dtype
        The parameters' dtype (``net.double()`` and ``net.to(...)`` change it later; the network is lowered
        again for the new dtype and device).
    engine : str or None
        ``train.engine``: ``"torch"`` (the reference loop) or ``"compiled"`` (numba kernels where one exists,
        CPU only); ``None`` is the device's default (:func:`~neuromorph.backends.base.resolve_engine`). The
        autograd path is always the torch loop.
    device : str or torch.device
        Where the parameters live.
    """

    def __init__(
        self, spec: NetworkSpec, params: Parameters | None = None, feedback: torch.Tensor | None = None, *,
        init: InitSpec | None = None, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32,
        engine: str | None = None, device: str | torch.device = "cpu",
    ) -> None:
        super().__init__()
        if not isinstance(spec, NetworkSpec):
            raise ConfigError(f"Network needs a neuromorph.network.NetworkSpec, got {type(spec).__name__}")
        if params is None:
            generator = torch.Generator().manual_seed(0) if generator is None else generator
            params, drawn = init_parameters(spec, InitSpec() if init is None else init, generator, dtype)
            feedback = drawn if feedback is None else feedback
        else:
            params = Parameters(*params)
        check_parameters(spec, params, None if feedback is None else torch.as_tensor(feedback))
        self.spec = spec
        self.engine = engine
        for name, value in params._asdict().items():
            tensor = None if value is None else nn.Parameter(
                torch.as_tensor(value).detach().to(device=device, dtype=dtype).clone())
            self.register_parameter(name, tensor)
        fb = None if feedback is None else torch.as_tensor(feedback).detach().to(device=device, dtype=dtype).clone()
        self.register_buffer("feedback", fb)
        #: the rule's state across sequences (a running reward baseline; :class:`~neuromorph.plasticity.RuleContext`)
        self.carry: dict = {}
        self._lowered_cache: dict[tuple, Lowered] = {}

    @classmethod
    def from_card(cls, card, *, device: str | torch.device | None = None) -> Network:
        """The network a training run of ``card`` starts from (a :class:`~neuromorph.config.RunSpec`, as
        :func:`~neuromorph.config.load_card` returns): the same draw as :func:`neuromorph.train` (the card's
        ``train.seed``), in its ``train.precision``, engine and device."""
        train = card.train
        return cls(card.network, init=card.init, generator=torch.Generator().manual_seed(train.seed),
                   dtype=train.precision.dtype, engine=train.engine, device=train.device if device is None else device)

    # -- what the backends read -----------------------------------------------------------------------------------
    @property
    def params(self) -> Parameters:
        """The registered parameters as a :class:`~neuromorph.network.Parameters` (the ``nn.Parameter`` objects)."""
        return Parameters(*(getattr(self, name) for name in PARAMETER_NAMES))

    def _detached(self) -> Parameters:
        """The parameters without autograd (views of the same storage): what the no-grad paths read."""
        return Parameters(*(None if p is None else p.detach() for p in self.params))

    def lowered(self) -> Lowered:
        """The network lowered for the parameters' current dtype and device (cached per dtype and device)."""
        w = self.w_in
        key = (w.dtype, w.device, self.engine)
        low = self._lowered_cache.get(key)
        if low is None:
            low = lower(self.spec, w.dtype, engine=self.engine, device=w.device)
            self._lowered_cache[key] = low
        return low

    def initial_state(self, batch: int) -> NetworkState:
        """The state at rest for ``batch`` trials (on the parameters' device)."""
        return self.lowered().initial_state(batch)

    # -- simulation -----------------------------------------------------------------------------------------------
    def forward(
        self, inputs: torch.Tensor, state: NetworkState | None = None, *, differentiable: bool | None = None,
        truncation: int | None = None, stop_recurrent: bool = False,
    ) -> Output:
        """Simulate ``inputs`` (T, B, n_in) from ``state`` (default: rest); return :class:`Output`.

        ``differentiable`` (default: whenever grad mode is on and a parameter or the input requires grad) runs
        :func:`~neuromorph.backends.torch.simulate.differentiable_run`, the reference step under autograd
        (``truncation`` detaches the state every K steps, ``stop_recurrent`` detaches :math:`z_{t-1}` in the
        recurrent drive, e-prop's stop-gradient); its output has no membrane (``v`` is ``None``). Otherwise it
        runs :func:`~neuromorph.backends.torch.simulate.simulate` (no graph; compiled where the engine has a
        kernel). Both run the same step, so they give the same numbers.
        """
        low = self.lowered()
        if inputs.dtype != low.dtype:
            inputs = inputs.to(low.dtype)
        if differentiable is None:
            differentiable = torch.is_grad_enabled() and (
                inputs.requires_grad or any(p.requires_grad for p in self.parameters()))
        if differentiable:
            y, z = differentiable_run(low, self.params, inputs, stop_recurrent=stop_recurrent, truncation=truncation,
                                      state=state)
            return Output(y, z, None)
        if truncation is not None or stop_recurrent:
            raise ConfigError("truncation and stop_recurrent shape gradients; pass differentiable=True with them")
        rec = simulate(low, self._detached(), inputs.detach(), state)
        return Output(rec.y, rec.z, rec.v)

    # -- a local rule's update --------------------------------------------------------------------------------------
    def local_grads(
        self, rule: Rule, batch: TrialBatch, kind: LossKind | str = LossKind.REGRESSION, *,
        initial_state: NetworkState | None = None, record: bool = False, generator: torch.Generator | None = None,
    ) -> SequenceResult:
        """Run ``batch`` with ``rule`` and add the rule's update to ``.grad`` of the parameters it targets.

        The gradients are those :func:`~neuromorph.backends.torch.train.train_sequence` hands its ``apply``
        callback (:math:`-\\Delta\\theta/\\eta` per target), so ``optimizer.step()`` after this call is the rule's
        update with that optimiser. Like ``loss.backward()`` the call adds to an existing ``.grad`` (call
        ``optimizer.zero_grad()`` first); parameters the rule does not target are left untouched. The
        parameters are held fixed during the sequence: a rule with several update windows
        (``update_interval``) has the gradients of all windows summed, where a
        :class:`~neuromorph.engine.Session` would step after each. In a spiking network the ``w_rec`` gradient's
        diagonal is set to zero (no autapses, as the package's learner keeps them). Returns the sequence's
        :class:`~neuromorph.backends.base.SequenceResult` (loss before the update, spike count, ...).
        """
        if not isinstance(rule, Rule):
            raise ConfigError(f"local_grads needs a neuromorph.plasticity.Rule, got {type(rule).__name__}")
        kind = LossKind(kind)
        rule_feedback = getattr(rule, "feedback", None)
        if rule_feedback is Feedback.ADAPTIVE:
            raise ConfigError("adaptive feedback changes B with every update, which a torch optimiser does not do; "
                              "train it with neuromorph.engine.Session (or use feedback = \"random\" or \"symmetric\")")
        low = self.lowered()
        feedback = self.feedback
        if feedback is None:
            if rule_feedback is Feedback.RANDOM:
                raise ConfigError(f"rule {rule.name!r} reads the random feedback matrix and this Network has none; "
                                  "pass feedback= when building it")
            feedback = torch.zeros(self.spec.n_rec, self.spec.n_out, dtype=low.dtype, device=low.device)
        if batch.inputs.dtype != low.dtype or batch.device != low.device:
            batch = batch.to(low.dtype, low.device)
        collected: dict[Target, torch.Tensor] = {}

        def apply(grads: dict[Target, torch.Tensor]) -> None:
            for target, grad in grads.items():
                collected[target] = grad.detach().clone() if target not in collected else collected[target] + grad

        result = train_sequence(low, self._detached(), feedback, rule, kind, batch, apply, initial_state,
                                record=record, generator=generator, carry=self.carry)
        with torch.no_grad():
            for target in sorted(collected, key=lambda t: t.value):
                param = getattr(self, target.value)
                grad = collected[target].to(param.dtype)
                if target is Target.W_REC and not self.spec.self_connections:
                    grad = grad.clone()
                    grad.fill_diagonal_(0.0)
                param.grad = grad if param.grad is None else param.grad + grad
        return result

    def extra_repr(self) -> str:
        s = self.spec
        return (f"n_in={s.n_in}, n_rec={s.n_rec}, n_out={s.n_out}, neuron={type(s.neuron).__name__}, dt={s.dt}, "
                f"engine={self.engine!r}")
