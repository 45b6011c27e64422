"""NIR export: round trip (neuromorph → NIR file → neuromorph), a reference NIR consumer, refusals."""

from __future__ import annotations

import math

import nir
import numpy as np
import pytest
import torch

from neuromorph.backends.torch.simulate import lower, simulate
from neuromorph.dynamics import ALIFParameters, LIFParameters, RateParameters, ReadoutParameters
from neuromorph.errors import ExportError, StorageError
from neuromorph.export import from_nir, read_nir, to_nir, write_nir
from neuromorph.network import InitSpec, NetworkSpec, init_parameters

F64 = torch.float64


LEAKY = ReadoutParameters(tau_out=0.02)


def network(recurrent: bool, seed: int = 0, readout=LEAKY, **neuron):
    """A small random LIF network in float64 with biases and threshold offsets."""
    g = torch.Generator().manual_seed(seed)
    lif = LIFParameters(**{"tau_mem": 0.02, "v_th": 0.6, "t_ref": 0.002, **neuron})
    spec = NetworkSpec(3, 6, 2, lif, readout, 1e-3)
    p, _ = init_parameters(spec, InitSpec(3.0, 1.5 if recurrent else 0.0, 1.0), g, F64)
    p = p._replace(bias=0.1 * torch.randn(6, generator=g, dtype=F64),
                   b_out=0.1 * torch.randn(2, generator=g, dtype=F64),
                   threshold=0.05 * torch.randn(6, generator=g, dtype=F64))
    x = (torch.rand(300, 4, 3, generator=g, dtype=F64) < 0.3).to(F64)
    return spec, p, x


CASES = [
    {"recurrent": False}, {"recurrent": True}, {"recurrent": True, "input_scaling": True, "t_ref": 0.0},
    {"recurrent": True, "readout": ReadoutParameters(tau_out=0.0)},
    {"recurrent": True, "readout": ReadoutParameters(tau_out=0.01, output_scaling=True)},
]


@pytest.mark.parametrize("case", CASES, ids=["ff", "rec", "rec-scaled", "rec-instant", "rec-outscaled"])
def test_round_trip_identical_parameters_and_outputs(tmp_path, case):
    spec, p, x = network(**case)
    path = write_nir(tmp_path / "net.nir", to_nir(spec, p))
    spec2, p2 = from_nir(path)
    assert spec2 == spec
    for name, a, b in zip(p._fields, p, p2):
        assert a.dtype == b.dtype and torch.equal(a, b), name
    r1, r2 = simulate(lower(spec, F64), p, x), simulate(lower(spec2, F64), p2, x)
    assert r1.z.sum() > 50  # the networks spike, so the reset and refractory paths are exercised
    assert torch.equal(r1.z, r2.z) and torch.equal(r1.v, r2.v) and torch.equal(r1.y, r2.y)


def test_float32_parameters_keep_their_dtype(tmp_path):
    spec, p, _ = network(recurrent=True)
    p32 = type(p)(*(t.float() for t in p))
    _, p2 = from_nir(write_nir(tmp_path / "n.nir", to_nir(spec, p32)))
    assert all(b.dtype == torch.float32 and torch.equal(a, b) for a, b in zip(p32, p2))


def consume(graph: nir.NIRGraph, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A NIR consumer written from docs/export.md only: exact-ZOH LIF/LI, recurrent edge delayed one
    step, and the reset / refractoriness taken from the LIF metadata. Returns (spikes, readout)."""
    n, dt = graph.nodes, float(graph.metadata["dt"])
    lif, w_in, w_out = n["lif"], n["w_in"], n["w_out"]
    alpha = np.exp(-dt / lif.tau)
    w_rec = n["w_rec"].weight if "w_rec" in n else 0.0 * np.eye(len(lif.tau))
    v_base, n_ref = float(lif.metadata["v_th"]), int(lif.metadata["refractory_steps"])
    v = z = r = np.zeros((x.shape[1], len(lif.tau)))
    y = np.zeros((x.shape[1], w_out.weight.shape[0]))
    zs, ys = [], []
    for x_t in x:
        drive = x_t @ w_in.weight.T + w_in.bias + z @ w_rec.T
        v = alpha * v + (1 - alpha) * lif.r * drive - v_base * z  # reset: subtract v_th one step later
        z = ((v > lif.v_threshold) & (r <= 0)).astype(float)
        r = np.where(z > 0, n_ref, np.maximum(r - 1, 0))
        out = z @ w_out.weight.T + w_out.bias
        if "readout" in n:
            kappa = np.exp(-dt / n["readout"].tau)
            y = kappa * y + (1 - kappa) * n["readout"].r * out
        else:
            y = out
        zs.append(z), ys.append(y)
    return np.stack(zs), np.stack(ys)


@pytest.mark.parametrize("case", CASES[:4], ids=["ff", "rec", "rec-scaled", "rec-instant"])
def test_documented_conventions_reproduce_neuromorph(tmp_path, case):
    spec, p, x = network(**case)
    graph = read_nir(write_nir(tmp_path / "net.nir", to_nir(spec, p)))
    z, y = consume(graph, x.numpy())
    rec = simulate(lower(spec, F64), p, x)
    np.testing.assert_array_equal(z, rec.z.numpy())
    np.testing.assert_allclose(y, rec.y.numpy(), rtol=1e-12, atol=1e-12)  # (1-κ)·r = s up to rounding


def test_graph_fields_and_metadata():
    spec, p, _ = network(recurrent=True)
    g = to_nir(spec, p)
    assert ("lif", "w_rec") in g.edges and ("w_rec", "lif") in g.edges
    assert g.metadata["dt"] == spec.dt and g.metadata["time_unit"] == "s"
    lif = g.nodes["lif"]
    alpha = math.exp(-spec.dt / 0.02)
    np.testing.assert_array_equal(lif.tau, 0.02)
    np.testing.assert_allclose(lif.r, 1 / (1 - alpha), rtol=1e-15)
    np.testing.assert_array_equal(lif.v_threshold, 0.6 + p.threshold.numpy())
    assert lif.metadata["reset"] == "subtract_next_step" and lif.metadata["refractory_steps"] == 2
    ff = to_nir(*network(recurrent=False)[:2])
    assert "w_rec" not in ff.nodes and all("w_rec" not in e for e in ff.edges)


@pytest.mark.parametrize("neuron, why", [
    (ALIFParameters(beta=0.1), "dynamic threshold"), (RateParameters(tau=0.01), "rate"),
])
def test_unexpressible_networks_are_refused(neuron, why):
    spec = NetworkSpec(2, 3, 1, neuron, ReadoutParameters(), 1e-3)
    p, _ = init_parameters(spec, InitSpec(), torch.Generator().manual_seed(0), F64)
    with pytest.raises(ExportError, match=why):
        to_nir(spec, p)


def test_bad_inputs_to_the_importer(tmp_path):
    with pytest.raises(StorageError, match="no NIR file"):
        from_nir(tmp_path / "missing.nir")
    (tmp_path / "junk.nir").write_bytes(b"not hdf5")
    with pytest.raises(StorageError, match="not a readable NIR"):
        from_nir(tmp_path / "junk.nir")
    spec, p, _ = network(recurrent=True)
    g = to_nir(spec, p)
    g.nodes["lif"].r = g.nodes["lif"].r * 2
    with pytest.raises(ExportError, match="disagrees with its metadata"):
        from_nir(g)
    g = to_nir(spec, p)
    g.nodes["lif"].metadata = {}
    with pytest.raises(ExportError, match="reset_by_subtraction"):
        from_nir(g)
    g.metadata = {}
    with pytest.raises(ExportError, match="no metadata dt"):
        from_nir(g)


def test_foreign_graph_with_explicit_reset_choice():
    spec, p, _ = network(recurrent=True, t_ref=0.0)
    g = to_nir(spec, p._replace(threshold=torch.zeros(6, dtype=F64)))
    g.nodes["lif"].metadata = {}
    spec2, p2 = from_nir(g, reset_by_subtraction=True)
    assert spec2.neuron.tau_mem == 0.02 and spec2.neuron.v_th == 0.6 and not spec2.neuron.input_scaling
    assert torch.equal(p2.w_rec, p.w_rec)
