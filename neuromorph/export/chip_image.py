r"""The quantised chip image of a network trained under a hardware profile, as HDF5.

A weight matrix on a chip is integer mantissas :math:`k` and one exponent per matrix
(:mod:`neuromorph.hardware.numerics`, docs/hardware.md):

.. math::

    W = k\,\Delta_W, \qquad \Delta_W = \Delta_v\,2^{\mathrm{shift}+e}/s, \qquad
    k \in [-(2^b-1),\, 2^b-1]

with :math:`\Delta_v = v_\mathrm{th}/K_\mathrm{th}` the membrane LSB (``threshold_lsb``),
:math:`s` the drive scale folded into the weights, :math:`e` the matrix exponent and :math:`b`
the profile's ``weight_bits`` (the readout, read by the host, has a free exponent; analog
profiles have a gain instead of an exponent). In ``on_chip`` mode the run's weights lie on
these grids and the image reproduces them exactly; in ``offline`` mode the run keeps float
shadow weights and the image holds their nearest grid points (what the chip would run).

Layout (format ``neuromorph-chip-image``, version 1)::

    /                 attrs: format, format_version, created, profile, profile_name, mode, dt,
                             neuron_model, n_in, n_rec, n_out, source, param_dtype (the dtype in
                             which k * step reproduces the run's weights bit for bit)
    /versions         attrs: package -> version
    /weights/<name>   int32 mantissas k; attrs: step (float64, model units), exponent (or -1
                      with has_exponent = 0 for a gain), bits, signed, kind
    /float/<name>     float64 parameters the profile keeps in floating point (e.g. b_out)
    /state            attrs: the membrane format (kind, bits, reset, overflow, decay,
                      decay_bits, decay_const, threshold_lsb, step)
    /traces/<side>    attrs: trace format (format, bits, signed, impulse, rounding)
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from neuromorph.errors import ExportError
from neuromorph.hardware import quantize as q
from neuromorph.hardware.numerics import ChipNumerics
from neuromorph.network import NetworkSpec, Parameters
from neuromorph.storage import atomic_hdf5, open_results

__all__ = ["FORMAT", "FORMAT_VERSION", "ChipImage", "chip_image", "read_chip_image", "write_chip_image"]

FORMAT = "neuromorph-chip-image"
FORMAT_VERSION = 1


@dataclass
class ChipImage:
    """Integer weights with their grid, float leftovers and the profile's formats."""

    profile: str
    mode: str
    attrs: dict
    mantissas: dict[str, np.ndarray]  #: int32
    weight_attrs: dict[str, dict]  #: step, exponent, has_exponent, bits, signed, kind
    floats: dict[str, np.ndarray]
    state: dict
    traces: dict[str, dict]

    def weight(self, name: str) -> np.ndarray:
        """:math:`k\\,\\Delta_W` in the run's parameter dtype (``param_dtype``), as the chip numerics computes it."""
        dtype = np.dtype(self.attrs.get("param_dtype", "float64"))
        return self.mantissas[name].astype(dtype) * dtype.type(self.weight_attrs[name]["step"])


def chip_image(spec: NetworkSpec, params: Parameters, chip: ChipNumerics | None, profile_id: str) -> ChipImage:
    """The image of ``params`` on ``chip`` (whose ``grids`` must be the ones the run used).

    Raises
    ------
    ExportError
        No chip arithmetic (the ``ideal`` profile or a run without a profile), or an ``on_chip``
        weight that is not on its grid (the run was not written by an on-chip run of this profile).
    """
    if chip is None:
        raise ExportError(f"profile {profile_id!r} quantises nothing (ideal numerics); a chip image needs a run "
                          "trained under a quantising profile, e.g. --profile loihi2")
    if not chip.grids.steps:
        chip.choose_grids(params)
    deployed = chip.deploy(params) if chip.mode == "offline" else params
    mantissas, weight_attrs = {}, {}
    for name, step in chip.grids.steps.items():
        w = getattr(deployed, name).detach()
        k = torch.round(w / step)
        bits, signed = chip.bits_of(name)
        lo, hi = q.int_range(bits, signed)
        if not torch.equal(k * step, w) or k.min() < lo or k.max() > hi:
            raise ExportError(f"{name} is not on the {profile_id} grid (step {step}, {bits} bits); the run file was "
                              f"not written by an on-chip run of this profile")
        exponent = chip.grids.exponents.get(name)
        mantissas[name] = k.to(torch.int64).numpy().astype(np.int32)
        weight_attrs[name] = {"step": float(step), "exponent": -1 if exponent is None else int(exponent),
                              "has_exponent": int(exponent is not None), "bits": bits, "signed": int(signed),
                              "kind": "state" if name == "bias" and chip.bias == "state" else chip.weights.kind}
    floats = {name: value.detach().to(torch.float64).numpy() for name, value in deployed._asdict().items()
              if value is not None and name not in mantissas}
    state = {k: v for k, v in dataclasses.asdict(chip.state).items()} if chip.state is not None else {"kind": "float"}
    traces = {side: {"format": t.format, "bits": t.bits, "signed": int(t.signed), "impulse": t.impulse,
                     "rounding": t.rounding}
              for side, t in chip.profile.traces.items()}
    attrs = {"dt": spec.dt, "neuron_model": type(spec.neuron).__name__, "n_in": spec.n_in, "n_rec": spec.n_rec,
             "n_out": spec.n_out, "profile_name": chip.profile.name,
             "param_dtype": str(params.w_in.detach().numpy().dtype)}
    return ChipImage(profile_id, chip.mode, attrs, mantissas, weight_attrs, floats, state, traces)


def _clean(d: dict) -> dict:
    return {k: (v if v is not None else "none") for k, v in d.items()}


def write_chip_image(path: str | os.PathLike[str], image: ChipImage, source: str = "") -> Path:
    """Write ``image`` atomically (:func:`neuromorph.storage.atomic_hdf5`)."""
    with atomic_hdf5(path, FORMAT, FORMAT_VERSION, profile=image.profile, mode=image.mode, source=source,
                     **image.attrs) as f:
        for name, k in image.mantissas.items():
            f.create_dataset(f"weights/{name}", data=k).attrs.update(image.weight_attrs[name])
        for name, value in image.floats.items():
            f.create_dataset(f"float/{name}", data=value)
        f.create_group("state").attrs.update(_clean(image.state))
        for side, attrs in image.traces.items():
            f.create_group(f"traces/{side}").attrs.update(_clean(attrs))
    return Path(path)


def _attrs(obj) -> dict:
    return {k: (v.decode() if isinstance(v, bytes) else v.item() if isinstance(v, np.generic) else v)
            for k, v in obj.attrs.items()}


def read_chip_image(path: str | os.PathLike[str]) -> ChipImage:
    """Read an image written by :func:`write_chip_image` (``StorageError`` for anything else)."""
    with open_results(path, FORMAT, FORMAT_VERSION, "a neuromorph chip image") as f:
        root = _attrs(f)
        weights = f["weights"]
        return ChipImage(
            profile=root.pop("profile"), mode=root.pop("mode"), attrs=root,
            mantissas={n: weights[n][()] for n in weights}, weight_attrs={n: _attrs(weights[n]) for n in weights},
            floats={n: f["float"][n][()] for n in f.get("float", {})}, state=_attrs(f["state"]),
            traces={s: _attrs(f["traces"][s]) for s in f.get("traces", {})})
