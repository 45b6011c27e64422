"""Training the three schemes, the HDF5 file and the figures (small, fast runs)."""

import numpy as np
import pytest
import torch

from neuromorph.cli import main
from neuromorph.contrastive import models
from neuromorph.contrastive.card import parse_contrastive_card
from tests.helpers import contrastive_table
from neuromorph.contrastive.data import load_task
from neuromorph.contrastive.kappa import KappaCase
from neuromorph.contrastive.run import run_contrastive, run_kappa
from neuromorph.storage.contrastive import read_contrastive
from neuromorph.contrastive.train import train_scheme
from neuromorph.errors import ConfigError, StorageError


def _tiny(model="ep", epochs=3, **train):
    return parse_contrastive_card(contrastive_table(model, network={"n_hidden": 4},
                                                    phases={"steps": 10, "mean_plus": 3, "mean_minus": 3},
                                                    train={"epochs": epochs, "seeds": [0, 1], **train}), "tiny.toml")


def test_hdf5_holds_curves_params_raster_and_summary(tmp_path):
    out = tmp_path / "cl.h5"
    result = run_contrastive(_tiny(), out, progress=False)
    f = read_contrastive(out)
    assert f["attrs"]["format"] == "neuromorph-contrastive" and f["attrs"]["kind"] == "train"
    assert list(f["summary"]["scheme"]) == ["classical", "periodic", "random"]
    for scheme in ("classical", "periodic", "random"):
        for seed in (0, 1):
            acc = f["curves"][scheme][f"seed_{seed}"]["test_acc"]
            assert acc.shape == (4,) and np.all((0 <= acc) & (acc <= 1))
            assert set(f["params"][scheme][f"seed_{seed}"]) - {"attrs"} == {"w1", "w2", "b1", "b2"}
    assert f["raster"]["random"]["phase"].shape == (10,)  # first epoch of seed 0: 1 batch x 10 steps
    assert not (np.all(f["raster"]["random"]["phase"]) or not np.any(f["raster"]["random"]["phase"]))
    assert all(p.exists() for p in result.figures) and len(result.figures) == 3
    mean = {s.scheme: s.mean for s in result.summary}
    assert f["summary"]["mean_final_test"] == pytest.approx([mean["classical"], mean["periodic"], mean["random"]])


def test_reading_a_foreign_file_is_a_storage_error(tmp_path):
    bad = tmp_path / "x.h5"
    bad.write_text("not hdf5")
    with pytest.raises(StorageError):
        read_contrastive(bad)


def test_schemes_differ_only_in_how_the_update_is_applied():
    """Same seed: same initial weights; the local rule changes them at every step, classical once per batch."""
    card, data = _tiny(epochs=1), load_task("xor", 0.25, np.random.default_rng(0))
    finals = {s: train_scheme(card, data, s, 0).params for s in ("classical", "periodic", "random")}
    init = models.init_params(card.net_spec(2, 2), torch.Generator().manual_seed(0))
    for params in finals.values():
        assert not np.allclose(params["w1"], init["w1"].numpy())
    assert not np.allclose(finals["periodic"]["w1"], finals["random"]["w1"])


def test_periodic_local_equals_classical_in_the_instant_relaxation_limit():
    """With fixed weights during a presentation (tiny lr) and equilibrium in each phase, the periodic
    local update summed over a presentation equals the classical one up to the transients."""
    card = parse_contrastive_card(contrastive_table(network={"n_hidden": 4, "dt": 1.0}, phases={"steps": 400},
                                                    train={"epochs": 1, "lr": 1e-6, "seeds": [0]}))
    data = load_task("xor", 0.25, np.random.default_rng(0))
    init = models.init_params(card.net_spec(2, 2), torch.Generator().manual_seed(0))
    delta = {s: train_scheme(card, data, s, 0, dtype=torch.float64).params["w2"] - init["w2"].double().numpy()
             for s in ("classical", "periodic")}
    rel = np.linalg.norm(delta["periodic"] - delta["classical"]) / np.linalg.norm(delta["classical"])
    assert rel < 0.05  # transients: a few steps out of 200 per phase


def test_kappa_run_writes_its_table(tmp_path, capsys):
    run = run_kappa(tmp_path / "k.h5", cases=(KappaCase(1.0, 5.0, 5.0),), runs=200, t_run=20.0, progress=False)
    f = read_contrastive(tmp_path / "k.h5")
    assert f["attrs"]["kind"] == "kappa"
    assert f["kappa"]["predicted"][0] == pytest.approx(1 / 1.4)
    assert f["kappa"]["measured"][0] == pytest.approx(run.results[0].measured)
    assert run.figures[0].exists()


def test_cli_train_prints_the_table(tmp_path, capsys):
    card = tmp_path / "c.toml"
    card.write_text('[task]\nname = "xor"\n[network]\nn_hidden = 4\n[contrastive]\nepochs = 2\nseeds = [0]\n'
                    'tolerance = 1.0\n[contrastive.phases]\nsteps = 10\n')
    assert main(["contrastive", "train", str(card), "--out", str(tmp_path / "c.h5"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "classical" in out and "random" in out and "within 1" in out


def test_kappa_lr_divides_the_local_rate_by_the_predicted_kappa():
    """The kappa law of docs/contrastive.md ("The rule"): periodic phases of T steps, relaxation tau/dt steps;
    telegraph means T±."""
    from neuromorph.contrastive.train import local_kappa

    card = _tiny(kappa_lr=True)  # steps 10 (periodic T = 5), telegraph means 3 and 3, tau/dt = 2 steps
    assert local_kappa(card, "classical") == 1.0
    assert local_kappa(card, "periodic") == pytest.approx(1 - 2 * np.tanh(5 / 4) / (5 / 2))
    assert local_kappa(card, "random") == pytest.approx(1 / (1 + 2 * (1 / 3 + 1 / 3)))
    # the first local update is 1/kappa times the uncorrected one (same seed, same phases, one batch)
    card1 = _tiny(epochs=1, lr=1e-4)
    data = load_task("xor", 0.25, np.random.default_rng(0))
    init = models.init_params(card.net_spec(2, 2), torch.Generator().manual_seed(0), dtype=torch.float64)["w2"].numpy()
    on = train_scheme(_tiny(epochs=1, lr=1e-4, kappa_lr=True), data, "random", 0, dtype=torch.float64)
    off = train_scheme(card1, data, "random", 0, dtype=torch.float64)
    ratio = np.linalg.norm(on.params["w2"] - init) / np.linalg.norm(off.params["w2"] - init)
    assert ratio == pytest.approx(1 / local_kappa(card, "random"), rel=1e-3)
    renewal = parse_contrastive_card(contrastive_table(phases={"random": "renewal"},
                                                       train={"kappa_lr": True, "epochs": 1, "seeds": [0]}), "r.toml")
    with pytest.raises(ConfigError, match="kappa_lr"):
        train_scheme(renewal, data, "random", 0)


def test_burn_in_is_validated_and_leaves_the_weights_alone_while_the_network_settles():
    with pytest.raises(ConfigError, match="burn_in"):
        parse_contrastive_card(contrastive_table(phases={"burn_in": -1}), "b.toml")
    data = load_task("xor", 0.25, np.random.default_rng(0))
    card = parse_contrastive_card(contrastive_table(network={"n_hidden": 4}, phases={"steps": 10, "burn_in": 5},
                                                    train={"epochs": 1, "seeds": [0]}), "b.toml")
    trained = train_scheme(card, data, "periodic", 0, record_raster=True)
    assert trained.raster["phase"].shape == (10,)  # 10 plastic steps per batch; the 5 burn-in steps are not
    init = models.init_params(card.net_spec(2, 2), torch.Generator().manual_seed(0))
    assert not np.allclose(trained.params["w1"], init["w1"].numpy())


def test_an_interrupted_run_resumes_after_the_runs_its_file_holds(tmp_path, monkeypatch):
    """Ctrl-C during the second (scheme, seed) run leaves a file with the first (status running); the same
    card into the same file trains only the missing runs, and the result equals an uninterrupted run's."""
    import neuromorph.contrastive.run as run_module

    card = _tiny(seeds=[0, 1], schemes=["classical", "periodic"])
    whole = run_contrastive(card, tmp_path / "whole.h5", progress=False, figures=False)
    calls = []
    real = run_module.train_scheme

    def interrupting(*args, **kw):
        calls.append(args[2:4])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(run_module, "train_scheme", interrupting)
    out = tmp_path / "resumed.h5"
    with pytest.raises(KeyboardInterrupt):
        run_contrastive(card, out, progress=False, figures=False)
    partial = read_contrastive(out)
    assert partial["attrs"]["status"] == "running" and "summary" not in partial
    assert set(partial["curves"]["classical"]) - {"attrs"} == {"seed_0"}
    resumed = run_contrastive(card, out, progress=False, figures=False)
    assert calls[2:] == [("classical", 1), ("periodic", 0), ("periodic", 1)]  # seed 0 of classical was not rerun
    assert read_contrastive(out)["attrs"]["status"] == "complete"
    for a, b in zip(whole.curves, resumed.curves):
        assert (a.scheme, a.seed) == (b.scheme, b.seed)
        np.testing.assert_array_equal(a.test_acc, b.test_acc)
        for name in a.params:
            np.testing.assert_array_equal(a.params[name], b.params[name])
    calls.clear()
    run_contrastive(card, out, progress=False, figures=False)  # complete: nothing to train
    assert calls == []


def test_a_different_card_into_the_same_file_needs_force(tmp_path):
    out = tmp_path / "run.h5"
    run_contrastive(_tiny(seeds=[0], schemes=["classical"]), out, progress=False, figures=False)
    other = _tiny(seeds=[0], schemes=["classical"], epochs=2)
    with pytest.raises(ConfigError, match="different card.*--force"):
        run_contrastive(other, out, progress=False, figures=False)
    assert run_contrastive(other, out, progress=False, figures=False, force=True).curves[0].test_acc.shape == (3,)
