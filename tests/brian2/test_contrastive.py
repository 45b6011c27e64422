"""Contrastive learning in brian2 trains the same weights as the torch path.

Both run the same :class:`~neuromorph.backends.base.Curriculum` of
:func:`neuromorph.contrastive.train.curriculum` (the torch path presentation by presentation through
the engine's ``Session.step``, brian2 as one run). Oracle: :func:`~neuromorph.contrastive.train.train_scheme`
on the torch backend in float64, from the same seed (same initial weights, minibatch order and phase draws). Each backend trains its own copy for several
epochs (every step's plasticity feeds the next step's dynamics, so a wrong stage, a wrong phase
step or a wrong update would grow and show). Tolerance: 1e-10 relative on every parameter after
training (max |Δ| over max |θ|). Both compute in float64; they sum the batch and the matrix
products in different orders and evaluate the sigmoid by different formulas, so they agree to a few
ulps (measured ≤ 2e-15 here), not bit for bit; an error of one step anywhere is ≥ 1e-4 (the
sensitivity test below). Accuracy curves must be identical (argmax of the same rates).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from neuromorph.backends.brian2 import Brian2Backend
from neuromorph.backends.brian2.contrastive import data_tables, layered_network, shape_of, timeline
from neuromorph.backends.brian2.contrastive_network import ContrastiveNetwork
from neuromorph.contrastive import models
from neuromorph.contrastive.card import load_contrastive_card, parse_contrastive_card
from neuromorph.contrastive.data import load_task
from neuromorph.contrastive.train import _session, curriculum, train_scheme
from neuromorph.engine import run_curriculum
from neuromorph.errors import ConfigError, NonFiniteError
from neuromorph.network import layers
from tests.helpers import contrastive_table, contrastive_variant

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

RTOL = 1e-10
EPOCHS = 15


def card_of(model: str, *, epochs: int = EPOCHS, **phases):
    """models/cl_xor.toml (state carried over, lr decay, baseline) with ``model``; CHL also resets, burns in
    and divides the local rate by κ (``kappa_lr``)."""
    card = load_contrastive_card("models/cl_xor.toml")
    train = {"epochs": epochs}
    if model == "chl":
        phases = {"reset": True, "burn_in": 3, **phases}
        train["kappa_lr"] = True
    return dataclasses.replace(contrastive_variant(card, model), phases=dataclasses.replace(card.phases, **phases),
                               train=dataclasses.replace(card.train, **train))


@pytest.fixture(scope="module")
def xor():
    return load_task("xor", 0.25, np.random.default_rng(0))


@pytest.fixture(scope="module")
def runners():
    made: dict[str, Brian2Backend] = {}
    yield lambda model: made.setdefault(model, Brian2Backend("numpy"))
    for r in made.values():
        r.close()


def brian2_scheme(runner, card, data, scheme, seed, **kw):
    """:func:`train_scheme` on the brian2 backend (float64)."""
    return train_scheme(card, data, scheme, seed, dtype=torch.float64, backend=runner, **kw)


def initial(card, data, scheme, seed) -> dict[str, np.ndarray]:
    """The seed's initial weights (as train_scheme draws them)."""
    net = card.net_spec(data.n_in, data.n_out)
    return {n: v.numpy() for n, v in models.init_params(net, torch.Generator().manual_seed(seed),
                                                        card.network.init_scale, torch.float64).items()}


def planned(runner, card, data, scheme, seed):
    """The brian2 network, its timeline and data tables for ``(scheme, seed)`` (built on first use)."""
    session, gen = _session(card, data, scheme, seed, 0.5, torch.float64, runner)
    plan = curriculum(card, data, scheme, seed, gen, torch.float64)
    net = layered_network(session.low, session.rule, session.parameters)
    shape = shape_of(net, plan)
    baseline = float(getattr(session.rule, "baseline_steps", 0.0))
    network = runner._cached(("curriculum", shape, baseline), lambda d: ContrastiveNetwork(shape, "numpy", d, baseline))
    start = {k: v.numpy() for k, v in layers(session.parameters, net.n_hidden).items()}
    return network, start, timeline(shape, plan, session.rule), data_tables(net, plan, session.rule), plan


def relative_error(a: dict, b: dict) -> float:
    """max |a - b| over max |a|, |b| (per parameter; the largest)."""
    return max(float(np.abs(a[n] - b[n]).max() / max(np.abs(a[n]).max(), np.abs(b[n]).max())) for n in a)


@pytest.mark.parametrize("scheme", ["periodic", "random", "classical"])
@pytest.mark.parametrize("model", ["ep", "chl"])
def test_brian2_trains_the_torch_weights(model, scheme, xor, runners):
    card = card_of(model)
    ref = train_scheme(card, xor, scheme, 1, dtype=torch.float64, record_raster=True)
    got = brian2_scheme(runners(model), card, xor, scheme, 1, record_raster=True)
    init = initial(card, xor, scheme, 1)
    assert relative_error(init, ref.params) > 1e-2  # the weights moved: the comparison is about learning
    assert relative_error(ref.params, got.params) < RTOL
    np.testing.assert_array_equal(got.train_acc, ref.train_acc)
    np.testing.assert_array_equal(got.test_acc, ref.test_acc)
    if scheme == "classical":
        assert got.raster is None and ref.raster is None
        return
    assert set(got.raster) == set(ref.raster)
    np.testing.assert_array_equal(got.raster["phase"], ref.raster["phase"])
    np.testing.assert_array_equal(got.raster["signal"], ref.raster["signal"])
    for name in ("rate_out", "weight"):
        np.testing.assert_allclose(got.raster[name], ref.raster[name], rtol=0, atol=RTOL)


def test_one_step_off_is_far_outside_the_tolerance(xor, runners):
    """Sensitivity of the oracle: storing g- one step early (classical) moves the weights by >> RTOL."""
    card = card_of("ep")
    network, start, arrays, tables, _ = planned(runners("ep"), card, xor, "classical", 1)
    network.run(start, {**arrays, **tables})
    right = network.final_weights()
    shifted = dict(arrays, STORE=np.roll(arrays["STORE"], -1))
    network.run(start, {**shifted, **tables})
    assert relative_error(right, network.final_weights()) > 1e-4


def test_brian2_evaluation_is_torch_predict(xor, runners):
    """The in-run evaluation (free relaxation from rest, every training and test sample) gives the output
    rates of :func:`models.predict` on the same weights, to RTOL; here after the last epoch."""
    card = card_of("chl")
    runner = runners("chl")
    session, gen = _session(card, xor, "random", 3, 0.5, torch.float64, runner)
    result = run_curriculum(session, curriculum(card, xor, "random", 3, gen, torch.float64))
    x = torch.cat([xor.x_train, xor.x_test]).to(torch.float64)
    params = {n: torch.as_tensor(v) for n, v in layers(result.params, card.network.n_hidden).items()}
    want = models.predict(card.net_spec(xor.n_in, xor.n_out), params, x, card.train.eval_steps).numpy()
    got = result.outputs[-1].numpy()
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=0)
    assert np.abs(got - result.outputs[0].numpy()).max() > 1e-3  # training changed what is evaluated


def test_a_network_that_is_not_layered_is_refused(xor, runners):
    """The brian2 curriculum form lowers the layered network only; a coupling inside the hidden layer is refused."""
    card = card_of("ep")
    session, gen = _session(card, xor, "periodic", 0, 0.5, torch.float64, runners("ep"))
    with torch.no_grad():
        session.params[next(t for t in session.params if t.value == "w_rec")][0, 1] = 0.1
    with pytest.raises(ConfigError, match="layered network"):
        run_curriculum(session, curriculum(card, xor, "periodic", 0, gen, torch.float64))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_is_reported_like_torch(xor, runners):
    """lr = 1e308 overflows the weights in the first epoch of the periodic scheme (found by trying 1e306 to
    1.7e308 with every scheme in torch: the classical one saturates the rates instead, which ends its growth)."""
    card = card_of("ep")
    card = dataclasses.replace(card, train=dataclasses.replace(card.train, lr=1e308))
    with pytest.raises(NonFiniteError) as want:
        train_scheme(card, xor, "periodic", 0, dtype=torch.float64)
    with pytest.raises(NonFiniteError) as got:
        brian2_scheme(runners("ep"), card, xor, "periodic", 0)
    assert str(got.value) == str(want.value)


#: the spiking card of tests/contrastive/test_models.py (which learns XOR in 200 epochs), for a few epochs
SPIKING = contrastive_table("spiking", network={"n_hidden": 16, "dt": 1e-3, "init_scale": 2.0},
                            neuron={"tau_rate": 10e-3, "tau_mem": 5e-3, "v_th": 0.5}, rule={"beta": 1.0},
                            phases={"steps": 80, "reset": False},
                            train={"epochs": 6, "lr": 0.1, "seeds": [0], "eval_steps": 80, "baseline_steps": 50})


@pytest.mark.parametrize("scheme", ["random", "classical"])
def test_spiking_variant_trains_the_torch_weights(scheme, xor, runners):
    """LIF units: identical spikes (else the filtered rates would differ by >= (1 - d)), weights to RTOL."""
    card = parse_contrastive_card(SPIKING)
    ref = train_scheme(card, xor, scheme, 0, dtype=torch.float64, record_raster=True)
    got = brian2_scheme(runners("spiking"), card, xor, scheme, 0, record_raster=True)
    assert relative_error(initial(card, xor, scheme, 0), ref.params) > 1e-3
    assert relative_error(ref.params, got.params) < RTOL
    np.testing.assert_array_equal(got.test_acc, ref.test_acc)
    if ref.raster is not None:
        np.testing.assert_allclose(got.raster["rate_out"], ref.raster["rate_out"], rtol=0, atol=RTOL)


def test_cli_brian2_writes_the_torch_layout(tmp_path):
    from neuromorph.cli import main
    from neuromorph.storage.contrastive import read_contrastive

    text = Path("models/cl_xor.toml").read_text().replace("epochs = 600", "epochs = 4").replace(
        "seeds = [0, 1, 2, 3]", "seeds = [2]")
    card = tmp_path / "xor.toml"
    card.write_text(text)
    files = {b: tmp_path / f"{b}.h5" for b in ("torch", "brian2")}
    assert main(["contrastive", "train", str(card), "--out", str(files["brian2"]), "--no-progress",
                 "--backend", "brian2", "--target", "numpy"]) in (0, 1)
    assert main(["contrastive", "train", str(card), "--out", str(files["torch"]), "--no-progress"]) in (0, 1)
    runs = {b: read_contrastive(f) for b, f in files.items()}
    assert runs["brian2"]["attrs"]["backend"] == "brian2" and runs["brian2"]["attrs"]["brian2_target"] == "numpy"
    assert runs["torch"]["attrs"]["backend"] == "torch"
    assert set(runs["brian2"]) == set(runs["torch"])
    card = load_contrastive_card(card)
    data = load_task("xor", 0.25, np.random.default_rng(0))
    for scheme in ("classical", "periodic", "random"):
        # the torch CLI trains in float32 (other initial draws): the oracle is train_scheme in float64
        ref = train_scheme(card, data, scheme, 2, dtype=torch.float64)
        got = runs["brian2"]["params"][scheme]["seed_2"]
        assert relative_error(ref.params, got) < RTOL
        curves = runs["brian2"]["curves"][scheme]["seed_2"]
        np.testing.assert_array_equal(curves["test_acc"], ref.test_acc)
        assert set(curves) == set(runs["torch"]["curves"][scheme]["seed_2"])


def check_compiled(target: str, models_: tuple[str, ...], xor, directory) -> None:
    """One build per model for every scheme and seed (cpp_standalone: one run of the binary each, run_args)."""
    runner = Brian2Backend(target, directory=directory)
    try:
        for model in models_:
            card = parse_contrastive_card(SPIKING) if model == "spiking" else card_of(model)
            for scheme, seed in (("random", 0), ("classical", 1), ("periodic", 2))[:2 if model == "ep" else 3]:
                ref = train_scheme(card, xor, scheme, seed, dtype=torch.float64)
                got = brian2_scheme(runner, card, xor, scheme, seed)
                assert relative_error(ref.params, got.params) < RTOL, (model, scheme)
                np.testing.assert_array_equal(got.test_acc, ref.test_acc)
    finally:
        runner.close()


def test_cpp_standalone_one_build_runs_every_scheme(xor, tmp_path):
    """EP in cpp_standalone: one compile (about 8-40 s here, by machine load), then a run per (scheme, seed)."""
    check_compiled("cpp_standalone", ("ep",), xor, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("target, models_", [("cpp_standalone", ("chl", "spiking")),
                                             ("cython", ("ep", "chl", "spiking"))])
def test_compiled_targets(target, models_, xor, tmp_path):
    check_compiled(target, models_, xor, tmp_path)
