r"""Export a neuromorph network as a NIR graph (nir 1.0.8), recurrent edges built by hand.

neuromorph's LIF is the discrete step of Bellec et al. (2020) (:mod:`neuromorph.dynamics.lif`):

.. math::

    v_t = \alpha v_{t-1} + s\,I_t - v_\mathrm{th} z_{t-1}, \qquad
    I_t = W^\mathrm{in} x_t + W^\mathrm{rec} z_{t-1} + b, \qquad \alpha = e^{-\Delta t/\tau_m}

NIR's ``LIF`` is continuous: :math:`\tau\,\dot v = (v_\mathrm{leak} - v) + R\,I`. Integrated
exactly over one step with the drive held constant (zero-order hold), it gives
:math:`v_t = \alpha v_{t-1} + (1-\alpha) R\, I_t`, which is neuromorph's membrane update when

.. math::

    \tau = \tau_m, \quad R = s/(1-\alpha), \quad v_\mathrm{leak} = 0, \quad
    v_\mathrm{threshold} = v_\mathrm{th} + \theta_j .

The leaky readout :math:`y_t = \kappa y_{t-1} + s_\mathrm{out}(W^\mathrm{out} z_t + b^\mathrm{out})`
becomes ``Affine(W_out, b_out) → LI(tau=tau_out, r=s_out/(1-kappa), v_leak=0)`` by the same
argument; ``tau_out = 0`` (instantaneous readout) has no LI node. Biases are the ``Affine``
biases. The recurrent matrix is a ``Linear`` self-loop ``lif → w_rec → lif``; a consumer must
delay that edge by one step (nirtorch does).

What NIR cannot express goes into node metadata, never dropped silently:

- the reset: neuromorph subtracts :math:`v_\mathrm{th}` (not :math:`v_\mathrm{th}+\theta`) *one
  step after* the spike, undecayed; NIR's ``v_reset`` means "set to". We write ``v_reset = 0``
  and ``metadata["reset"] = "subtract_next_step"``;
- the refractory period (``t_ref``, ``refractory_steps``), the threshold offsets ``theta`` and
  base threshold ``v_th``, ``input_scaling``, the pseudo-derivative (training only);
- ``dt`` (s), the discretisation (``"exact_zoh"``) and the units, in the graph metadata: NIR has
  no ``dt`` field.

A current-based LIF (:mod:`neuromorph.dynamics.cuba_lif`),
:math:`i_t = \alpha_s i_{t-1} + s_s I_t`, :math:`v_t = \alpha v_{t-1} + s\, i_t - v_\mathrm{th} z_{t-1}`,
becomes NIR's ``CubaLIF``, :math:`\tau_\mathrm{syn}\dot I = -I + w_\mathrm{in} S`,
:math:`\tau_\mathrm{mem}\dot v = (v_\mathrm{leak} - v) + R I`, by the same argument applied to each
stage in turn (the current's input held over the step, then the voltage's input :math:`i_t` held over
the step; ``metadata["discretisation"] = "stagewise_zoh"``):

.. math::

    \tau_\mathrm{syn} = \tau_\mathrm{syn}, \quad w_\mathrm{in} = s_s/(1-\alpha_s), \quad
    \tau_\mathrm{mem} = \tau_m, \quad R = s/(1-\alpha), \quad v_\mathrm{leak} = 0 .

Both are 1 with ``input_scaling``. Integrating the coupled ODE exactly over a step (the current decaying
*within* the step) is a different discretisation that agrees only as :math:`\Delta t \to 0`; a consumer
that wants neuromorph's trajectory steps the stages in turn. The reset and refractory metadata are those
of LIF, the hidden node keeps the name ``lif``, and :func:`~neuromorph.export.from_nir` reads LIF graphs
only (a CubaLIF graph is refused there).

ALIF cannot be exported honestly: its adaptive threshold :math:`v_\mathrm{th}+\theta+\beta a_t`
moves the spike condition without entering the membrane, and NIR 1.0.8 has no primitive with a
dynamic threshold. Rate units have no NIR primitive either. Both raise :class:`ExportError`.

References
----------
Bellec et al., Nat. Commun. 11:3625 (2020), Methods; Pedersen et al., Nat. Commun. 15:8122
(2024) (NIR); nir 1.0.8 and norse 1.1.0 as pinned.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import nir
import numpy as np
import torch

from neuromorph.dynamics import Neuron
from neuromorph.errors import ExportError
from neuromorph.network import NetworkSpec, Parameters, complete

__all__ = ["FORMAT", "FORMAT_VERSION", "to_nir", "write_nir"]

FORMAT = "neuromorph-nir"
FORMAT_VERSION = 1
_STAGEWISE = ("; CubaLIF stage by stage: I_t = a_s I_{t-1} + (1 - a_s) w_in S_t, then v_t = a v_{t-1} + "
              "(1 - a) r I_t with this step's current held over the step (stagewise_zoh)")


def _array(t: torch.Tensor) -> np.ndarray:
    return np.array(t.detach().cpu().numpy(), copy=True)


def _check_model(spec: NetworkSpec, primitives: tuple[str, ...] = ("LIF",)) -> Neuron:
    """The neuron, if it states a NIR primitive this exporter writes (asked of the neuron, not its type)."""
    neuron = spec.neuron
    primitive = neuron.nir_primitive if type(neuron).stated("nir_primitive") else ""
    if primitive not in primitives:
        reason = neuron.nir_refusal if primitive == "" and type(neuron).stated("nir_refusal") else (
            f"neuron {type(neuron).describe()} states no NIR primitive this exporter writes ({', '.join(primitives)})")
        raise ExportError(reason)
    return neuron


def to_nir(spec: NetworkSpec, params: Parameters, extra_metadata: dict | None = None) -> nir.NIRGraph:
    """The NIR graph of an LIF or CUBA LIF network (see the module docstring for the parameter mapping).

    Nodes: ``input → w_in (Affine, bias b) → lif (LIF or CubaLIF) → w_out (Affine, b_out) → readout (LI) →
    output``, plus ``lif → w_rec (Linear) → lif`` when :math:`W^\\mathrm{rec} \\ne 0`.
    Arrays keep the dtype of ``params``. ``extra_metadata`` (flat: str, int, float) is added to the
    graph metadata, e.g. the hardware profile a run was trained under.

    Raises
    ------
    ExportError
        ALIF or rate neurons (NIR cannot express them), non-finite parameters.
    """
    neuron = _check_model(spec, ("LIF", "CubaLIF"))
    params = Parameters(*(None if p is None else torch.as_tensor(p) for p in params))
    dtype = params.w_in.dtype
    params = complete(params, spec, dtype)
    if not all(torch.isfinite(p).all() for p in params):
        raise ExportError("the network's parameters contain NaN or Inf; nothing to export")
    n, dt = spec.n_rec, spec.dt
    nodes: dict[str, nir.NIRNode] = {
        "input": nir.Input(input_type={"input": np.array([spec.n_in])}),
        "w_in": nir.Affine(weight=_array(params.w_in), bias=_array(params.bias)),
        "lif": _hidden_node(neuron, dt, n, _array(params.threshold), _array(neuron.v_th + params.threshold)),
        "w_out": nir.Affine(weight=_array(params.w_out), bias=_array(params.b_out)),
        "output": nir.Output(output_type={"output": np.array([spec.n_out])}),
    }
    edges = [("input", "w_in"), ("w_in", "lif"), ("lif", "w_out")]
    if torch.any(params.w_rec != 0):
        nodes["w_rec"] = nir.Linear(weight=_array(params.w_rec), metadata={"delay_steps": 1})
        edges += [("lif", "w_rec"), ("w_rec", "lif")]
    readout = spec.readout
    if readout.tau_out > 0:
        kappa, s_out = readout.kappa(dt), readout.drive_scale(dt)
        o = spec.n_out
        nodes["readout"] = nir.LI(
            tau=np.full(o, readout.tau_out), r=np.full(o, s_out / (1.0 - kappa)), v_leak=np.zeros(o),
            metadata={"discretisation": "exact_zoh", "output_scaling": int(readout.output_scaling),
                      "kappa": float(kappa), "drive_scale": float(s_out)})
        edges += [("w_out", "readout"), ("readout", "output")]
    else:
        edges += [("w_out", "output")]
    metadata = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "dt": float(dt), "time_unit": "s",
        "discretisation": "exact_zoh: x_t = exp(-dt/tau) x_{t-1} + (1 - exp(-dt/tau)) r I_t, drive held over the step"
                          + (_STAGEWISE if neuron.nir_primitive == "CubaLIF" else ""),
        "recurrent_delay_steps": 1, "tau_out": float(readout.tau_out),
        "convention": f"neuromorph.dynamics.{nodes['lif'].metadata['neuromorph_model']} (Bellec et al. 2020); "
                      "see docs/export.md",
        **(extra_metadata or {}),
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def _hidden_node(neuron: Neuron, dt: float, n: int, theta: np.ndarray, v_threshold: np.ndarray) -> nir.NIRNode:
    """The hidden population as ``LIF`` or ``CubaLIF`` (the module docstring's mapping), metadata included."""
    alpha, s = neuron.alpha(dt), neuron.drive_scale(dt)
    full = lambda value: np.full(n, value, dtype=np.float64)
    meta = {
        "neuromorph_model": "lif" if neuron.nir_primitive == "LIF" else "cuba_lif",
        "discretisation": "exact_zoh", "reset": "subtract_next_step",
        "v_th": float(neuron.v_th), "threshold_offset": theta, "t_ref": float(neuron.t_ref),
        "refractory_steps": int(neuron.n_ref(dt)), "input_scaling": int(neuron.input_scaling),
        "alpha": float(alpha), "drive_scale": float(s),
        "pd_height": float(neuron.pd_height), "pd_width": float(neuron.pd_width),
    }
    common = dict(r=full(s / (1.0 - alpha)), v_leak=full(0.0), v_threshold=v_threshold, v_reset=full(0.0))
    if neuron.nir_primitive == "LIF":
        return nir.LIF(tau=full(neuron.tau_mem), **common, metadata=meta)
    alpha_syn, s_syn = neuron.alpha_syn(dt), neuron.current_scale(dt)
    meta.update(discretisation="stagewise_zoh", tau_syn=float(neuron.tau_syn), alpha_syn=float(alpha_syn),
                current_scale=float(s_syn))
    return nir.CubaLIF(tau_syn=full(neuron.tau_syn), tau_mem=full(neuron.tau_mem),
                       w_in=full(s_syn / (1.0 - alpha_syn)), **common, metadata=meta)


def write_nir(path: str | os.PathLike[str], graph: nir.NIRGraph) -> Path:
    """Write ``graph`` with :func:`nir.write`, atomically (temporary file, then rename)."""
    path = Path(path)
    if path.is_dir():
        raise ExportError(f"--nir {path} is a directory; give the graph's file name, e.g. {path / 'network.nir'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        nir.write(tmp, graph)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
