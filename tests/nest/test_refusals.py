"""The NEST backend refuses at setup, in one line naming the feature and a backend that runs it.

None of these need NEST: the checks (neuromorph.backends.nest.support) run before NEST is imported.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from neuromorph.backends.nest import NestBackend, UnsupportedFeatureError
from neuromorph.backends.nest import support
from neuromorph.backends.registry import BACKENDS, get_backend
from neuromorph.cli import main
from neuromorph.config import load_card
from neuromorph.errors import ConfigError
from neuromorph.experiment import train
from neuromorph.network import init_parameters
from neuromorph.plasticity.rflo import RFLO

NEST_SINE = {"optimizer.name": "sgd", "optimizer.lr": 1e-4, "task.n_steps": 20,
             "task.n_in": 5, "network.n_rec": 6, "train.iterations": 1, "train.precision": "float64"}


def _refused(spec, backend="nest") -> str:
    with pytest.raises(UnsupportedFeatureError) as info:
        train(spec, backend=backend, progress=False)
    message = str(info.value)
    assert len(message.splitlines()) == 1 and "--backend torch" in message
    return message


def _sine(**over):
    return load_card("models/eprop_sine.toml", {**NEST_SINE, **over})


def test_nest_is_registered():
    assert "nest" in BACKENDS
    backend = get_backend("nest", "2")
    assert backend.threads == 2 and backend.attrs["backend"] == "nest"
    with pytest.raises(ConfigError, match="thread count"):
        get_backend("nest", "cython")
    with pytest.raises(ConfigError, match=">= 1"):
        get_backend("nest", "0")


@pytest.mark.parametrize("card, over, feature", [
    ("models/bptt_sine.toml", {}, "'bptt' rule"),
    ("models/eprop_sine_cuba.toml", {}, "'cuba_lif' neuron"),
    ("models/linear_rflo.toml", {}, "rate units"),
    ("models/eprop_sine.toml", {"rule.mode": "online", "rule.update_interval": 100}, "rule.update_interval = 100"),
    ("models/eprop_sine.toml", {"rule.targets": ["w_in", "w_rec", "w_out", "bias"]}, "learning bias"),
    ("models/eprop_sine.toml", {"rule.targets": ["w_rec", "threshold"]}, "learning threshold"),
    ("models/eprop_sine.toml", {"network.readout.tau_out": 0.0}, "instantaneous readout"),
    ("models/reward_bandit.toml", {}, "'reward_eprop' rule"),
])
def test_cards_nest_cannot_express_are_refused_at_setup(card, over, feature):
    assert feature in _refused(load_card(card, over))


def test_rflo_on_spiking_neurons_is_refused():
    spec = _sine()
    rule = RFLO(targets=spec.rule.targets)
    with pytest.raises(UnsupportedFeatureError, match="'rflo' rule"):
        NestBackend().check(spec.network, rule, None, spec.task.n_steps)


def test_hardware_profiles_are_refused():
    spec = load_card("models/eprop_sine_chip.toml", {"hardware.profile": "loihi2"})
    assert "hardware profiles" in _refused(spec)


def test_contrastive_curricula_are_refused_before_they_run():
    with pytest.raises(UnsupportedFeatureError, match="curriculum"):
        NestBackend().train_curriculum(None, None, None, None)


def _batch_check(spec, batch_size=1, edit=None, params_edit=None):
    g = torch.Generator().manual_seed(0)
    params, _ = init_parameters(spec.network, spec.init, g, torch.float64)
    batch = spec.task.sample(batch_size, g).to(torch.float64)
    if edit is not None:
        batch = edit(batch)
    if params_edit is not None:
        params = params_edit(params)
    return support.check_batch(spec.network, spec.rule, batch, params)


def test_spikes_from_step_0_a_trailing_mask_and_a_readout_bias_pass():
    """NEST presents every sequence after two silent lead steps (neuromorph.backends.nest.network.LEAD)."""
    spec = _sine(**{"rule.targets": ["w_in", "w_rec", "w_out", "b_out"], "task.rate": 500.0})
    g = torch.Generator().manual_seed(0)
    assert spec.task.sample(1, g).inputs[:2].any()
    assert _batch_check(spec, params_edit=lambda p: p._replace(b_out=p.b_out + 0.1)) == 20  # the whole sequence
    alif = load_card("models/eprop_evidence.toml", {"rule.regularization.strength": 0.0})
    assert alif.rule.targets >= {support.Target.B_OUT}
    NestBackend().check(alif.network, alif.rule, None, alif.task.n_steps)


@pytest.mark.parametrize("edit, feature", [
    (lambda b: dataclasses.replace(b, inputs=b.inputs * 0.5), "real-valued inputs"),
    (lambda b: dataclasses.replace(b, mask=b.mask.index_fill(0, torch.tensor([19]), 0.0)), "one block ending"),
    (lambda b: dataclasses.replace(b, mask=b.mask * 0.5), "0/1"),
])
def test_batches_nest_cannot_present_are_refused(edit, feature):
    with pytest.raises(UnsupportedFeatureError, match=feature):
        _batch_check(_sine(), edit=edit)


def test_the_batch_rate_regulariser_with_more_than_one_sequence_is_refused():
    with pytest.raises(UnsupportedFeatureError, match=r'train.batch_size = 2 .*rule.regularization.rate = "sequence"'):
        _batch_check(_sine(), batch_size=2)
    assert _batch_check(_sine(**{"rule.regularization.strength": 0.0}), batch_size=2) == 20
    assert _batch_check(_sine(**{"rule.regularization.rate": "sequence"}), batch_size=2) == 20  # NEST's form
    assert _batch_check(_sine(), batch_size=1) == 20  # one sequence: the two forms are one


def test_non_zero_biases_are_refused():
    with pytest.raises(UnsupportedFeatureError, match="non-zero bias"):
        _batch_check(_sine(), params_edit=lambda p: p._replace(bias=p.bias + 0.1))


def test_a_missing_nest_is_one_line_naming_the_install(monkeypatch):
    monkeypatch.setattr(support, "nest_available", lambda: False)
    spec = _sine()
    with pytest.raises(ConfigError, match=r"neuromorph\[nest\]"):
        NestBackend().check(spec.network, spec.rule, None, spec.task.n_steps)


def test_cli_refusal_is_one_line_and_exit_1(tmp_path, capsys):
    out = tmp_path / "r.h5"
    assert main(["train", "models/eprop_sine.toml", "--backend", "nest", "--out", str(out), "--no-progress",
                 "--set", 'rule.targets=["bias"]']) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "learning bias" in err and "--backend torch" in err
    assert not out.exists()


def test_silent_steps_clear_the_first_steps_only():
    spec = _sine(**{"task.silent_steps": 3, "task.rate": 500.0})
    plain = _sine(**{"task.rate": 500.0})
    g = torch.Generator().manual_seed(0)
    x, y = spec.task.sample(1, g).inputs, plain.task.sample(1, g).inputs
    assert not x[:3].any() and y[:3].any() and torch.equal(x[3:], y[3:])
    with pytest.raises(ConfigError, match="silent_steps"):
        _sine(**{"task.silent_steps": 21})


@pytest.mark.skipif(not support.nest_available(), reason="the batch is checked once setup (which needs NEST) passed")
def test_a_batch_refused_at_the_first_iteration_leaves_no_file(tmp_path, capsys):
    """The evidence card (batch-mean regulariser, 64 sequences) is refused when its first batch is checked."""
    out = tmp_path / "e.h5"
    argv = ["train", "models/eprop_evidence.toml", "--backend", "nest", "--out", str(out), "--no-progress",
            "--set", "network.n_rec=6", "--set", "network.neuron.n_adaptive=3", "--set", "train.batch_size=2"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'rule.regularization.rate = "sequence"' in err and "--backend torch" in err
    assert not out.exists()
