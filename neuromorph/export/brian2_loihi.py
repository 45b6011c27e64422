r"""Port of a network trained under the ``loihi1`` profile to the brian2-loihi Loihi-1 emulator.

Both sides are integer machines, so the port is exact: brian2-loihi's spikes equal neuromorph's
own ``loihi1`` simulation spike for spike (``tests/export/test_brian2_loihi.py``, a property
test over random networks and inputs). This package only reads runs: the spikes the written script
compares against are simulated above it (``neuromorph export --brian2-loihi``,
:func:`neuromorph.cli_export.loihi1_reference_spikes`) and handed to :func:`write_brian2_loihi`.

neuromorph's ``loihi1`` membrane (:meth:`~neuromorph.hardware.numerics.ChipNumerics.membrane`,
integer :math:`k` in units of :math:`\Delta_v = v_\mathrm{th}/K_\mathrm{th}`, ``threshold_lsb``
:math:`K_\mathrm{th} = 2^{21}`), with the drive of :mod:`neuromorph.backends.torch.simulate`:

.. math::

    k_t &= \mathrm{sat}_{23}\Big(D(k_{t-1})\,(1 - z_{t-1}) + \sum_i c^\mathrm{in}_{ji} x_{t,i}
           + \sum_l c^\mathrm{rec}_{jl} z_{t-1,l} + c^\mathrm{b}_j\Big), \qquad
    z_t = [k_t > K_\mathrm{th}] \\
    D(k) &= \mathrm{sgn}(k)\,\big\lfloor |k|\,(2^{12} - d)/2^{12} \big\rfloor, \qquad
    d = \mathrm{round}\big(2^{12}(1 - e^{-\Delta t/\tau_m})\big)

where a weight with mantissa :math:`k_W` and matrix exponent :math:`e` adds
:math:`c = k_W 2^{6+e}` state LSBs (the drive scale :math:`s` is folded into the weights,
:mod:`neuromorph.hardware.numerics`), and the bias is a synapse from an always-on source
(``plasticity.bias_learning = "bias_synapse"``).

brian2-loihi 0.5.2 (``loihi_neuron_group.py``, ``loihi_synapses.py``, ``loihi_network.py``,
``loihi_spike_generator_group.py``; schedule ``start, synapses, groups, thresholds, resets``,
``dt`` = 1 step, forward Euler):

.. math::

    I &\mathrel{+}= w_\mathrm{act} \ \text{(synapses slot: spikes of the previous step's
        thresholds, generator spikes of this step's start slot)} \\
    v_t &= v_{t-1} - \mathrm{sgn}(v_{t-1})\lceil |v_{t-1}| d_v/2^{12} \rceil + I_t, \qquad
    I \leftarrow I - \mathrm{sgn}(I)\lceil |I| d_I / 2^{12}\rceil \\
    z_t &= [v_t > 2^6 m_\mathrm{th}], \qquad v \leftarrow 0 \ \text{on a spike} \\
    w_\mathrm{act} &= \lfloor m\,2^{6+e'}/2^6 \rfloor\,2^6, \qquad
    m \in [0, 255] \ (\text{excitatory}),\ [-256, 0] \ (\text{inhibitory})

Mapping (each line is an identity of the two update rules, not an approximation):

* **decay**: :math:`d_v = d` (for integer :math:`v`,
  :math:`|v| - \lceil |v| d/2^{12}\rceil = \lfloor |v|(2^{12}-d)/2^{12}\rfloor`);
  :math:`d_I = 4096`, so :math:`I` is cleared after every step: neuromorph's LIF has no synaptic
  current, its drive enters the membrane in the step it arrives.
* **threshold**: :math:`m_\mathrm{th} = K_\mathrm{th}/2^6` (both compare strictly, ``>``);
  reset to zero on both sides (neuromorph multiplies the decayed state by :math:`1-z_{t-1}` one
  step later, brian2-loihi zeroes :math:`v` in the resets slot: the next state is the same).
* **refractory**: ``refractory = 1`` (the minimum) lets a neuron integrate again in the step
  after a spike, which is neuromorph's ``t_ref = 0``.
* **delays**: synapse ``delay = 0``. A neuron's spike at step :math:`t` is delivered in the
  synapses slot of step :math:`t+1`: brian2-loihi's one-step delay *is* neuromorph's
  :math:`W^\mathrm{rec} z_{t-1}`. Generator spikes are emitted in the ``start`` slot, so input
  :math:`x_t` reaches :math:`v_t`, as :math:`W^\mathrm{in} x_t` does; the bias source spikes at
  every step.
* **weights**: brian2-loihi's mixed sign mode has a mantissa step of 2 (7 magnitude bits), so
  each matrix is split into an excitatory and an inhibitory ``LoihiSynapses`` (step 1, 8 bits),
  which represents neuromorph's sign + 8-bit mantissas exactly. brian2-loihi floors every
  weight to a multiple of :math:`2^6` state LSBs, so a matrix is exact when every
  :math:`c = k_W 2^{6+e}` is a multiple of :math:`2^6`; it is then written with the smallest
  exponent :math:`e' \in [0, 7]` that holds all :math:`c/2^{6+e'}` as integers of magnitude
  :math:`\le 255` (:math:`e' = e` for :math:`e \ge 0`). A negative exponent with weights
  finer than :math:`2^6` LSBs cannot be expressed and raises :class:`ExportError`.
* **saturation**: neuromorph saturates :math:`k` at :math:`\pm(2^{23}-1)` (Loihi's 24-bit
  state, Lava's bit-accurate LIF); brian2-loihi 0.5.2 does not. The port adds one brian2
  ``run_regularly`` on the neuron group, ``v = clip(v, -(2^23-1), 2^23-1)`` in the ``groups``
  slot after the state update (``saturate = 1`` in the data, the default), which is the same
  rule. With ``saturate = 0`` the script runs plain brian2-loihi and reports when a membrane
  left the range (only a strongly inhibited one can: a positive one spikes and resets first);
  trained ``loihi1`` cards do reach it (e.g. ``eprop_sine_chip.toml``, whose weights are large
  against ``v_th`` and scaled by :math:`s = 1-\alpha`).

Not expressible (each raises :class:`ExportError` naming the feature): ALIF or rate units (no
adaptive threshold or rates on Loihi 1's neuron), profiles other than ``loihi1``, ``t_ref > 0``
(neuromorph keeps integrating while refractory, brian2-loihi holds :math:`v` at 0), a learned
threshold offset :math:`\theta \ne 0` (one threshold per group), inputs that are not 0/1
spikes, and weights finer than :math:`2^6` LSBs.

The readout (float :math:`W^\mathrm{out}`, read by the host) is computed on the host from the spikes.

References: Davies et al., IEEE Micro 38(1), 2018; Michaelis et al., Brian2Loihi, Front.
Neuroinform. 16:1015624, 2022 (github.com/sagacitysite/brian2_loihi); docs/hardware.md
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from neuromorph.dynamics import LIFParameters
from neuromorph.errors import ExportError
from neuromorph.export import b2l_script
from neuromorph.export.chip_image import ChipImage
from neuromorph.network import NetworkSpec, Parameters

__all__ = ["check_inputs", "image_parameters", "run_port", "to_brian2_loihi", "write_brian2_loihi"]

SHIFT = 6  #: brian2-loihi: w_act = w * 2^(6 + w_exp); v_th = threshold_v_mant * 2^6
EXP_RANGE = (0, 7)  #: exponents that keep every weight a whole multiple of 2^6 (see the module docstring)
THRESHOLD_MANT_MAX = 131071  #: LoihiNeuronGroup: threshold_v_mant in 0..131071 (17 bits)
FIX = "retrain with --profile loihi1 (--mode offline for e-prop) and a plain LIF card (model = 'lif', t_ref = 0)"


def _loihi_matrix(name: str, k: np.ndarray, exponent: int) -> tuple[np.ndarray, int]:
    """``(m, e')`` with ``m * 2^(6+e') == k * 2^(6+exponent)`` state LSBs and |m| <= 255 (module docstring)."""
    k = np.asarray(k, dtype=np.int64)
    # c / 2^6 = k * 2^exponent must be an integer; as integers: k * 2^exponent, or k / 2^-exponent
    if exponent >= 0:
        units = k * 2**exponent
    else:
        if np.any(k % 2**-exponent):
            raise ExportError(f"{name}: weight exponent {exponent} puts weights between multiples of 2^6 state LSBs; "
                              "brian2-loihi floors every weight to a multiple of 2^6 (loihi_synapses.py), so it "
                              "cannot run them exactly (train longer or scale the weights up)")
        units = k // 2**-exponent
    for e in range(EXP_RANGE[0], EXP_RANGE[1] + 1):
        if not np.any(units % 2**e) and np.abs(units // 2**e).max(initial=0) <= 255:
            return units // 2**e, e
    raise ExportError(f"{name}: weights of {np.abs(units).max() * 2**SHIFT} state LSBs need more than 8 mantissa "
                      "bits at exponent 7 (brian2-loihi's largest)")


def _pairs(name: str, k: np.ndarray) -> dict[str, np.ndarray]:
    post, pre = np.nonzero(k)
    return {f"{name}_pre": pre.astype(np.int64), f"{name}_post": post.astype(np.int64),
            f"{name}_w": k[post, pre].astype(np.int64)}


def to_brian2_loihi(spec: NetworkSpec, image: ChipImage) -> dict[str, np.ndarray]:
    """The arrays ``run.py`` rebuilds the network from (integers; see the module docstring).

    Raises
    ------
    ExportError
        The run is not a ``loihi1`` LIF run, or uses a feature brian2-loihi cannot express exactly
        (the message names the feature, why, and the fix).
    """
    where = "brian2-loihi"
    if image.profile != "loihi1":
        raise ExportError(f"{where} emulates Loihi 1; the run was trained under profile {image.profile!r}: {FIX}")
    if type(spec.neuron) is not LIFParameters:  # ALIFParameters subclasses it
        raise ExportError(f"{where} has only CUBA LIF neurons; the run uses {type(spec.neuron).__name__} "
                          f"(no adaptive threshold or rate units on Loihi 1): {FIX}")
    if spec.neuron.n_ref(spec.dt) > 0:
        raise ExportError(f"{where}: t_ref = {spec.neuron.t_ref} s; neuromorph keeps integrating while refractory, "
                          f"brian2-loihi holds v at 0, so the spikes would differ: {FIX}")
    st = image.state
    if (st.get("kind"), st.get("decay"), st.get("decay_bits"), st.get("reset")) != ("int", "mul_shift", 12, "zero"):
        raise ExportError(f"{where} needs an integer membrane with Loihi's 12-bit decay and reset to zero; the run's "
                          f"state format is {st}: {FIX}")
    lsb = int(st["threshold_lsb"])
    if lsb % 2**SHIFT or not 0 < lsb // 2**SHIFT <= THRESHOLD_MANT_MAX:
        raise ExportError(f"{where}: threshold_lsb {lsb} is not 2^6 x a 17-bit mantissa (threshold_v_mant <= "
                          f"{THRESHOLD_MANT_MAX})")
    theta = image.floats.get("threshold")
    if theta is not None and np.any(theta != 0):
        raise ExportError(f"{where}: the run learned per-neuron threshold offsets; a LoihiNeuronGroup has one "
                          "threshold (drop 'threshold' from rule.targets)")
    data: dict[str, np.ndarray] = {
        "n_in": np.int64(spec.n_in), "n_rec": np.int64(spec.n_rec), "refractory": np.int64(1),
        "threshold_v_mant": np.int64(lsb // 2**SHIFT), "decay_v": np.int64(st["decay_const"]),
        "decay_I": np.int64(4096), "saturate": np.int64(1)}
    if not 0 <= int(st["decay_const"]) <= 4096:
        raise ExportError(f"{where}: decay_v {st['decay_const']} outside 0..4096")
    bias_k = image.mantissas.get("bias")
    if bias_k is None or image.weight_attrs["bias"]["kind"] == "state":
        raise ExportError(f"{where}: the bias must be a synapse from an always-on source "
                          "(plasticity.bias_learning = 'bias_synapse', as in loihi1)")
    for group, name, k in (("in", "w_in", image.mantissas["w_in"]), ("rec", "w_rec", image.mantissas["w_rec"]),
                           ("bias", "bias", bias_k.reshape(-1, 1))):
        m, e = _loihi_matrix(name, k, int(image.weight_attrs[name]["exponent"]))
        data.update(_pairs(group, m))
        data[f"{group}_exp"] = np.int64(e)
    data["w_out"] = image.weight("w_out").astype(np.float64)
    data["b_out"] = np.asarray(image.floats.get("b_out", np.zeros(spec.n_out)), dtype=np.float64)
    data["kappa"] = np.float64(spec.readout.kappa(spec.dt))
    data["s_out"] = np.float64(spec.readout.drive_scale(spec.dt))
    return data


def check_inputs(inputs: np.ndarray | torch.Tensor, n_in: int) -> np.ndarray:
    """``inputs`` (T, B, n_in) of 0/1 spikes as (B, T, n_in) uint8, or :class:`ExportError`."""
    x = inputs.detach().cpu().numpy() if isinstance(inputs, torch.Tensor) else np.asarray(inputs)
    if x.ndim != 3 or x.shape[2] != n_in:
        raise ExportError(f"brian2-loihi inputs must have shape (T, B, {n_in}), got {x.shape}")
    if not np.isin(x, (0, 1)).all():
        raise ExportError("brian2-loihi inputs are spikes; these inputs have values other than 0 and 1 "
                          "(use a task with spike inputs, e.g. the sine task's frozen raster)")
    return np.ascontiguousarray(x.transpose(1, 0, 2)).astype(np.uint8)


def image_parameters(image: ChipImage, spec: NetworkSpec) -> Parameters:
    """The image's weights as float64 parameters (``k * step``), for neuromorph's own simulation of the image."""
    def w(name):
        return torch.from_numpy(image.mantissas[name].astype(np.float64) * image.weight_attrs[name]["step"])

    floats = {k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in image.floats.items()}
    return Parameters(w_in=w("w_in"), w_rec=w("w_rec"), w_out=w("w_out"), bias=w("bias"),
                      b_out=floats.get("b_out", torch.zeros(spec.n_out, dtype=torch.float64)),
                      threshold=floats.get("threshold"))


def run_port(data: dict[str, np.ndarray], inputs: np.ndarray, target: str = "numpy") -> tuple[np.ndarray, bool]:
    """Run ``data`` in brian2-loihi on ``inputs`` (T, B, n_in): spikes (B, T, n_rec) and the overflow flag."""
    return b2l_script.run({**data, "inputs": check_inputs(inputs, int(data["n_in"]))}, target)


def write_brian2_loihi(directory: str | Path, data: dict[str, np.ndarray], inputs: np.ndarray,
                       expected: np.ndarray | None = None, source: str = "") -> Path:
    """Write ``DIR/run.py`` (a copy of :mod:`neuromorph.export.b2l_script`) and ``DIR/network.npz``.

    ``inputs`` (T, B, n_in) are the trials the script runs; ``expected`` (B, T, n_rec) are
    neuromorph's spikes for them, which the script compares against.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    arrays = {**data, "inputs": check_inputs(inputs, int(data["n_in"])), "source": np.array(source)}
    if expected is not None:
        arrays["expected_spikes"] = np.asarray(expected, dtype=np.uint8)
    tmp = out / "network.tmp.npz"
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out / "network.npz")
    shutil.copyfile(b2l_script.__file__, out / "run.py")
    return out
