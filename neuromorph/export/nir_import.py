r"""Read a NIR graph back into a :class:`NetworkSpec` and :class:`Parameters`.

The inverse of :func:`neuromorph.export.nir_graph.to_nir`. The graph must have the shape
``input → Affine → LIF [⇄ Linear/Affine] → Affine [→ LI] → output``. Parameters NIR cannot
carry exactly (``v_th`` vs the threshold offsets :math:`\theta`, ``input_scaling``, ``t_ref``,
the pseudo-derivative) come from the LIF node's metadata written by the exporter, and are
checked against the NIR fields: :math:`\tau = \tau_m`, :math:`R = s/(1-\alpha)`,
:math:`v_\mathrm{threshold} = v_\mathrm{th} + \theta`, :math:`v_\mathrm{leak} = 0`.

A foreign graph (no neuromorph metadata) is accepted only with ``reset_by_subtraction=True``:
NIR's ``v_reset`` sets the membrane, neuromorph subtracts :math:`v_\mathrm{th}` one step later,
so importing changes the dynamics after every spike; the caller must say that is intended.
"""

from __future__ import annotations

import os
from pathlib import Path

import nir
import numpy as np
import torch

from neuromorph.dynamics import LIFParameters, ReadoutParameters
from neuromorph.errors import ExportError, StorageError
from neuromorph.network import NetworkSpec, Parameters

__all__ = ["from_nir", "read_nir"]

_RTOL = 1e-12


def read_nir(path: str | os.PathLike[str]) -> nir.NIRGraph:
    """:func:`nir.read`, with a missing or unreadable file as :class:`StorageError`."""
    path = Path(path)
    if not path.is_file():
        raise StorageError(f"no NIR file at {path}")
    try:
        return nir.read(path)
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise StorageError(f"{path} is not a readable NIR file: {exc}") from None


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _uniform(name: str, values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(values == values[0]):
        raise ExportError(f"NIR {name} differs between neurons; neuromorph has one value per population")
    return float(values[0])


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= _RTOL * max(abs(a), abs(b), 1e-300)


def _one(kind: str, found: list[str]) -> str:
    if len(found) != 1:
        raise ExportError(f"expected one {kind} in the NIR graph, found {len(found)} ({', '.join(found) or 'none'}); "
                          "neuromorph imports input → Affine → LIF [⇄ Linear] → Affine [→ LI] → output")
    return found[0]


def _lif(node: nir.LIF, dt: float, n: int, reset_by_subtraction: bool) -> tuple[LIFParameters, np.ndarray]:
    meta = dict(node.metadata or {})
    tau = _uniform("LIF tau", node.tau)
    if np.any(np.asarray(node.v_leak) != 0):
        raise ExportError("NIR LIF has v_leak != 0; neuromorph's LIF leaks to 0")
    alpha = float(np.exp(-dt / tau))
    if _text(meta.get("neuromorph_model", "")) == "lif":
        if _text(meta.get("reset", "")) != "subtract_next_step":
            raise ExportError(f"LIF metadata reset = {meta.get('reset')!r}; neuromorph reads 'subtract_next_step'")
        p = LIFParameters(tau_mem=tau, v_th=float(meta["v_th"]), t_ref=float(meta["t_ref"]),
                          pd_height=float(meta["pd_height"]), pd_width=float(meta["pd_width"]),
                          input_scaling=bool(int(meta["input_scaling"])))
        theta = np.asarray(meta["threshold_offset"])
    else:
        if not reset_by_subtraction:
            raise ExportError("this NIR LIF has no neuromorph metadata: its v_reset sets the membrane, while "
                              "neuromorph subtracts v_th one step later; pass reset_by_subtraction=True to accept "
                              "neuromorph's reset")
        r = _uniform("LIF r", node.r)
        scaling = _close(r, 1.0)
        if not scaling and not _close(r, 1.0 / (1.0 - alpha)):
            raise ExportError(f"NIR LIF r = {r} is neither 1/(1-alpha) = {1 / (1 - alpha)} (s = 1) nor 1 "
                              "(s = 1 - alpha); fold r into the input weights first")
        v_th = _uniform("LIF v_threshold", node.v_threshold)
        p = LIFParameters(tau_mem=tau, v_th=v_th, input_scaling=scaling)
        theta = np.zeros(n, dtype=np.asarray(node.v_threshold).dtype)
    r_expected = p.drive_scale(dt) / (1.0 - alpha)
    if not _close(_uniform("LIF r", node.r), r_expected):
        raise ExportError(f"NIR LIF r = {_uniform('LIF r', node.r)} disagrees with its metadata (s/(1-alpha) = "
                          f"{r_expected}); the file was edited or written with another dt")
    if not np.allclose(np.asarray(node.v_threshold, dtype=np.float64), p.v_th + theta.astype(np.float64),
                       rtol=1e-6, atol=0):
        raise ExportError("NIR LIF v_threshold disagrees with its metadata v_th + threshold_offset")
    return p, theta


def from_nir(graph: nir.NIRGraph | str | os.PathLike[str], dt: float | None = None, *,
             reset_by_subtraction: bool = False) -> tuple[NetworkSpec, Parameters]:
    """``(spec, params)`` of a NIR graph (or file) written by :func:`~neuromorph.export.to_nir`.

    ``dt`` (s) defaults to the graph metadata's ``dt``; NIR has no dt field, so a foreign graph
    needs it given.

    Raises
    ------
    ExportError
        A graph of another shape, non-uniform time constants, a missing dt, metadata that
        disagrees with the NIR fields, or a foreign reset without ``reset_by_subtraction``.
    StorageError
        An unreadable file.
    """
    if not isinstance(graph, nir.NIRGraph):
        graph = read_nir(graph)
    nodes, edges = graph.nodes, graph.edges
    meta = dict(graph.metadata or {})
    if dt is None:
        if "dt" not in meta:
            raise ExportError("the NIR graph has no metadata dt (NIR has no dt field); pass dt= in seconds")
        dt = float(meta["dt"])
    lif = _one("LIF node", [k for k, v in nodes.items() if isinstance(v, nir.LIF)])
    inp = _one("Input node", [k for k, v in nodes.items() if isinstance(v, nir.Input)])
    out = _one("Output node", [k for k, v in nodes.items() if isinstance(v, nir.Output)])
    succ = lambda a: [d for s, d in edges if s == a]
    pred = lambda b: [s for s, d in edges if d == b]
    w_in = _one("Affine from the input", [d for d in succ(inp) if isinstance(nodes[d], nir.Affine)])
    if succ(w_in) != [lif]:
        raise ExportError(f"NIR node {w_in} must feed only the LIF node {lif}")
    loops = [s for s in pred(lif) if s != w_in]
    rec = _one("recurrent Linear/Affine", loops) if loops else None
    if rec is not None and (pred(rec) != [lif] or not isinstance(nodes[rec], (nir.Linear, nir.Affine))):
        raise ExportError(f"NIR recurrent node {rec} must be a Linear (or Affine) fed by {lif} only")
    w_out = _one("Affine readout", [d for d in succ(lif) if d != rec and isinstance(nodes[d], nir.Affine)])
    after = succ(w_out)
    readout_node = nodes[after[0]] if len(after) == 1 and isinstance(nodes[after[0]], nir.LI) else None
    if readout_node is not None and succ(after[0]) != [out] or readout_node is None and after != [out]:
        raise ExportError(f"NIR readout must be {w_out} → (LI →) {out}")
    n_in = int(np.asarray(nodes[inp].input_type["input"]).prod())
    win = np.asarray(nodes[w_in].weight)
    n_rec, n_out = win.shape[0], np.asarray(nodes[w_out].weight).shape[0]
    if win.shape[1] != n_in:
        raise ExportError(f"NIR {w_in} weight has {win.shape[1]} columns for {n_in} inputs")
    neuron, theta = _lif(nodes[lif], dt, n_rec, reset_by_subtraction)
    spec = NetworkSpec(n_in=n_in, n_rec=n_rec, n_out=n_out, neuron=neuron, readout=_readout(readout_node, dt), dt=dt)
    t = lambda a: torch.from_numpy(np.array(a, copy=True))
    zeros = np.zeros((n_rec, n_rec), dtype=win.dtype)
    if rec is not None and isinstance(nodes[rec], nir.Affine) and np.any(np.asarray(nodes[rec].bias) != 0):
        raise ExportError(f"NIR recurrent node {rec} has a bias; put biases on the input Affine")
    params = Parameters(
        w_in=t(win), w_rec=t(nodes[rec].weight if rec is not None else zeros), w_out=t(nodes[w_out].weight),
        bias=t(nodes[w_in].bias), b_out=t(nodes[w_out].bias), threshold=t(theta))
    return spec, params


def _readout(node: nir.LI | None, dt: float) -> ReadoutParameters:
    if node is None:
        return ReadoutParameters(tau_out=0.0)
    if np.any(np.asarray(node.v_leak) != 0):
        raise ExportError("NIR LI readout has v_leak != 0; neuromorph's readout leaks to 0")
    tau = _uniform("LI tau", node.tau)
    kappa = float(np.exp(-dt / tau))
    r = _uniform("LI r", node.r)
    if _close(r, 1.0):
        return ReadoutParameters(tau_out=tau, output_scaling=True)
    if _close(r, 1.0 / (1.0 - kappa)):
        return ReadoutParameters(tau_out=tau, output_scaling=False)
    raise ExportError(f"NIR LI r = {r} is neither 1 (output_scaling) nor 1/(1-kappa) = {1 / (1 - kappa)}")
