r"""The neuron interface: one object per neuron family, one step signature, and what rules need from it.

A neuron family is a frozen dataclass of its parameters (SI units) that subclasses :class:`Neuron`.
Every family steps with the same signature,

.. math::

    (z_t,\ \psi_t,\ s_t) = \mathrm{step}(s_{t-1},\ I_t,\ \Delta t;\ \theta,\ \mathrm{membrane})

where :math:`I_t = W^\mathrm{in} x_t + W^\mathrm{rec} z_{t-1} + b` is the synaptic drive,
:math:`z_t` the output (a spike, or a rate for rate units), :math:`\psi_t` the pseudo-derivative
:math:`\partial z_t/\partial v_t` (or :math:`\phi'(u_t)`), :math:`\theta` an optional per-neuron
threshold offset and ``membrane`` an optional replacement of the membrane update (a chip's integer
arithmetic, :mod:`neuromorph.hardware.numerics`).

What a rule needs is stated on the neuron, not inferred from its type:

* :meth:`Neuron.eligibility` -- the state-Jacobian terms of the e-prop eligibility vector
  (Bellec et al. 2020, eq. 13) as an :class:`Eligibility`: the chain of linear filters that turns
  presynaptic activity into the trace :math:`P_{ji}` seen by the membrane, and an optional
  adaptation variable;
* :attr:`Neuron.state_names`, :attr:`Neuron.spiking`, :attr:`Neuron.model`, and the capabilities
  that the hardware layer, NIR export and the brian2 lowering look for.

**Stated, not inherited.** A capability counts only if it was stated *for the step it describes*:
:meth:`Neuron.stated` is true when the class that defines ``step`` (or a subclass of it) also
defines the capability. A user's ``class MyLIF(LIFParameters)`` that overrides ``step`` but not
``eligibility`` therefore has no stated eligibility, and e-prop refuses it at setup instead of
training with LIF's (then wrong) gradients.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, NamedTuple

import torch

from neuromorph.errors import ConfigError


class Filter(NamedTuple):
    r"""One linear filter stage :math:`F_t = d\, F_{t-1} + s\, u_t`."""

    decay: float
    scale: float


class Eligibility(NamedTuple):
    r"""The state-Jacobian terms of a neuron's e-prop eligibility (Bellec et al. 2020, Methods).

    With the recurrent spikes treated as inputs (e-prop's stop-gradient), the membrane's
    sensitivity to a weight :math:`W_{ji}` is the presynaptic activity passed through ``filters``
    in order: :math:`P = F_k(\dots F_1(\mathrm{pre}))` (LIF: one stage :math:`(\alpha, s)`;
    a current-based LIF: the synaptic stage first, then the membrane). An adaptive threshold
    :math:`A_t = v_\mathrm{th} + \beta a_t`, :math:`a_t = \rho a_{t-1} + z_{t-1}` adds the
    per-synapse component :math:`\epsilon^a` with :math:`e = \psi(P - \beta\epsilon^a)` and
    :math:`\epsilon^{a}_{t+1} = \psi_t P_t + (\rho - \beta\psi_t)\epsilon^a_t` (``rho``, ``beta``).
    """

    filters: tuple[Filter, ...]
    rho: float | None = None
    beta: torch.Tensor | None = None  #: (n,)

    @property
    def adaptive(self) -> bool:
        return self.beta is not None

    @property
    def membrane(self) -> Filter:
        """The last stage: the membrane's own decay and drive scale."""
        return self.filters[-1]


class Neuron(ABC):
    """A neuron family: parameters (dataclass fields), its step, and what rules need from it.

    Subclasses set :attr:`model` (the card name, ``network.neuron.model``), :attr:`state_names`,
    :attr:`spiking`, and implement :meth:`initial_state` and :meth:`step`. Concrete families
    register themselves in :data:`NEURONS` by their ``model`` name.
    """

    model: ClassVar[str] = ""
    state_names: ClassVar[tuple[str, ...]] = ()
    spiking: ClassVar[bool] = True
    self_connections: ClassVar[bool] = False  #: whether W_rec may have a non-zero diagonal

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("model"):
            NEURONS.setdefault(cls.__dict__["model"], cls)

    @abstractmethod
    def initial_state(self, batch: int, n: int, dtype: torch.dtype = torch.float32) -> tuple:
        """The state at rest, a NamedTuple of tensors of shape (batch, n) named :attr:`state_names`."""

    @abstractmethod
    def step(self, state: tuple, drive: torch.Tensor, dt: float, *, theta: torch.Tensor | None = None,
             membrane=None) -> tuple[torch.Tensor, torch.Tensor, tuple]:
        """One step: ``(z_t, psi_t, state_t)`` from ``state_{t-1}`` and the drive :math:`I_t`."""

    def validate(self, n: int, dt: float) -> None:
        """Raise :class:`~neuromorph.errors.ConfigError` if the parameters do not fit ``n`` neurons at step ``dt``."""

    def eligibility(self, dt: float, n: int, dtype: torch.dtype) -> Eligibility | None:
        """The e-prop eligibility terms, or ``None`` when this neuron does not state them."""
        return None

    @property
    def adaptive(self) -> bool:
        """Whether the neuron carries an adaptation variable in its eligibility (ALIF)."""
        return False

    @property
    def signed_eligibility(self) -> bool:
        """Whether the per-synapse eligibility takes both signs (a chip's unsigned store cannot hold it)."""
        return True

    #: The NIR primitive this neuron exports to (``"LIF"``, ``"CubaLIF"``), or ``""`` with :attr:`nir_refusal`.
    nir_primitive: ClassVar[str] = ""
    nir_refusal: ClassVar[str] = "NIR export of this neuron is not defined"

    @classmethod
    def stated(cls, capability: str) -> bool:
        """True if ``capability`` was defined for this class's step (see the module docstring)."""
        mro = cls.__mro__
        owner_step = next((k for k in mro if "step" in k.__dict__), None)
        owner_cap = next((k for k in mro if capability in k.__dict__ and k is not Neuron), None)
        return owner_cap is not None and owner_step is not None and issubclass(owner_cap, owner_step)

    @classmethod
    def describe(cls) -> str:
        """How errors name this neuron: its model name, or its class with what it derives from."""
        if cls.__dict__.get("model"):
            return f"{cls.__dict__['model']!r} ({cls.__name__})"
        base = next((k for k in cls.__mro__[1:] if k.__dict__.get("model")), None)
        return f"{cls.__name__}" + (f" (a subclass of {base.__name__})" if base is not None else "")


#: Neuron families by card name (``network.neuron.model``); filled as the families are defined.
NEURONS: dict[str, type[Neuron]] = {}


def neuron_class(model: str) -> type[Neuron]:
    """The family registered as ``model``."""
    try:
        return NEURONS[model]
    except KeyError:
        raise ConfigError(f"network.neuron.model must be one of {sorted(NEURONS)}, got {model!r}") from None


def require(neuron: Neuron, capability: str, who: str, what: str) -> None:
    """Raise :class:`~neuromorph.errors.UnsupportedPairingError` unless ``neuron`` states ``capability``.

    ``who`` names the component asking (a rule, a backend, an exporter); ``what`` says what it needs.
    """
    from neuromorph.errors import UnsupportedPairingError

    if not isinstance(neuron, Neuron) or not type(neuron).stated(capability):
        name = type(neuron).describe() if isinstance(neuron, Neuron) else type(neuron).__name__
        raise UnsupportedPairingError(
            f"{who} needs {what} from the neuron, and neuron {name} does not state it "
            f"(Neuron.{capability}; a subclass that changes step() must state it again); "
            "define it on the neuron (docs/extending.md) or use rule.name = \"bptt\", whose gradient autograd "
            "takes through any step"
        )
