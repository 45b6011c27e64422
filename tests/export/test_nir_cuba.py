"""NIR export of current-based LIF networks as ``nir.CubaLIF`` (neuromorph.export.nir_graph docstring).

Float64 throughout. The consumer below is written from the node's NIR fields and the exporter's
metadata only; spikes must agree exactly, voltages and readout to 1e-12 (the same arithmetic with
``(1-a) r = s`` rounded differently).
"""

from __future__ import annotations

import math

import nir
import numpy as np
import pytest
import torch

from neuromorph.backends.torch.simulate import lower, simulate
from neuromorph.dynamics import CubaLIFParameters, ReadoutParameters
from neuromorph.errors import ExportError
from neuromorph.export import from_nir, read_nir, to_nir, write_nir
from neuromorph.network import InitSpec, NetworkSpec, init_parameters

F64 = torch.float64
DT = 1e-3


def network(scaled: bool, seed: int = 0):
    """A small recurrent CUBA network with biases and threshold offsets that spikes."""
    g = torch.Generator().manual_seed(seed)
    neuron = CubaLIFParameters(tau_mem=0.02, v_th=0.6, t_ref=0.002, tau_syn=0.005, input_scaling=scaled)
    spec = NetworkSpec(3, 6, 2, neuron, ReadoutParameters(tau_out=0.02), DT)
    gain = 6.0 if scaled else 1.0
    p, _ = init_parameters(spec, InitSpec(3.0 * gain, 1.5 * gain, 1.0), g, F64)
    p = p._replace(bias=0.1 * torch.randn(6, generator=g, dtype=F64),
                   b_out=0.1 * torch.randn(2, generator=g, dtype=F64),
                   threshold=0.05 * torch.randn(6, generator=g, dtype=F64))
    x = (torch.rand(300, 4, 3, generator=g, dtype=F64) < 0.3).to(F64)
    return spec, p, x


@pytest.mark.parametrize("scaled", [False, True], ids=["paper", "scaled"])
def test_cuba_node_parameters_as_nir_reads_them(tmp_path, scaled):
    spec, p, _ = network(scaled)
    graph = read_nir(write_nir(tmp_path / "cuba.nir", to_nir(spec, p)))
    node = graph.nodes["lif"]
    assert type(node) is nir.CubaLIF
    a, a_s = math.exp(-DT / 0.02), math.exp(-DT / 0.005)
    s, s_s = (1 - a, 1 - a_s) if scaled else (1.0, 1.0)
    np.testing.assert_array_equal(node.tau_syn, np.full(6, 0.005))
    np.testing.assert_array_equal(node.tau_mem, np.full(6, 0.02))
    np.testing.assert_allclose(node.r, s / (1 - a), rtol=1e-15)
    np.testing.assert_allclose(node.w_in, s_s / (1 - a_s), rtol=1e-15)
    np.testing.assert_array_equal(node.v_leak, 0.0)
    np.testing.assert_array_equal(node.v_reset, 0.0)
    np.testing.assert_array_equal(node.v_threshold, 0.6 + p.threshold.numpy())
    assert node.input_type["input"].tolist() == [6] and node.output_type["output"].tolist() == [6]
    meta = node.metadata
    assert meta["neuromorph_model"] == "cuba_lif" and meta["discretisation"] == "stagewise_zoh"
    assert meta["reset"] == "subtract_next_step" and meta["refractory_steps"] == 2
    assert graph.metadata["convention"].startswith("neuromorph.dynamics.cuba_lif")
    assert ("lif", "w_rec") in graph.edges and ("w_rec", "lif") in graph.edges


def consume(graph: nir.NIRGraph, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CubaLIF stepped stage by stage (each stage's input held over the step), recurrent edge delayed
    one step, reset and refractoriness from the metadata. Returns (spikes, voltage, readout)."""
    n, dt = graph.nodes, float(graph.metadata["dt"])
    cuba, w_in, w_out, li = n["lif"], n["w_in"], n["w_out"], n["readout"]
    a, a_s, kappa = np.exp(-dt / cuba.tau_mem), np.exp(-dt / cuba.tau_syn), np.exp(-dt / li.tau)
    v_base, n_ref = float(cuba.metadata["v_th"]), int(cuba.metadata["refractory_steps"])
    i = v = z = r = np.zeros((x.shape[1], len(cuba.tau_mem)))
    y = np.zeros((x.shape[1], w_out.weight.shape[0]))
    zs, vs, ys = [], [], []
    for x_t in x:
        drive = x_t @ w_in.weight.T + w_in.bias + z @ n["w_rec"].weight.T
        i = a_s * i + (1 - a_s) * cuba.w_in * drive
        v = a * v + (1 - a) * cuba.r * i - v_base * z
        z = ((v > cuba.v_threshold) & (r <= 0)).astype(float)
        r = np.where(z > 0, n_ref, np.maximum(r - 1, 0))
        y = kappa * y + (1 - kappa) * li.r * (z @ w_out.weight.T + w_out.bias)
        zs.append(z), vs.append(v), ys.append(y)
    return np.stack(zs), np.stack(vs), np.stack(ys)


@pytest.mark.parametrize("scaled", [False, True], ids=["paper", "scaled"])
def test_documented_mapping_reproduces_neuromorph(tmp_path, scaled):
    spec, p, x = network(scaled)
    z, v, y = consume(read_nir(write_nir(tmp_path / "cuba.nir", to_nir(spec, p))), x.numpy())
    rec = simulate(lower(spec, F64), p, x)
    assert 50 < rec.z.sum() < 0.5 * rec.z.numel()  # spikes, so the reset and refractory paths are exercised
    np.testing.assert_array_equal(z, rec.z.numpy())
    np.testing.assert_allclose(v, rec.v.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y, rec.y.numpy(), rtol=1e-12, atol=1e-12)


def test_a_plain_lif_consumer_of_the_same_graph_would_be_wrong():
    """Control: ignoring the current stage (reading the node as LIF) changes the spike trains."""
    spec, p, x = network(False)
    graph = to_nir(spec, p)
    graph.nodes["lif"].tau_syn = np.full(6, 1e-9)  # a_s = 0, w_in = 1: the current is the drive
    z, _, _ = consume(graph, x.numpy())
    assert np.abs(z - simulate(lower(spec, F64), p, x).z.numpy()).sum() > 50


def test_importer_refuses_cuba_graphs_with_an_export_error():
    spec, p, _ = network(False)
    with pytest.raises(ExportError, match="expected one LIF node"):
        from_nir(to_nir(spec, p))


def test_cuba_subclass_with_its_own_step_is_not_exported_as_cuba():
    """A subclass that changes step() must restate nir_primitive (Neuron.stated)."""

    class Shifted(CubaLIFParameters):
        def step(self, state, drive, dt, *, theta=None, membrane=None):
            return super().step(state, drive + 0.1, dt, theta=theta, membrane=membrane)

    spec, p, _ = network(False)
    spec = NetworkSpec(3, 6, 2, Shifted(tau_syn=0.005), spec.readout, DT)
    with pytest.raises(ExportError, match="Shifted"):
        to_nir(spec, p)
