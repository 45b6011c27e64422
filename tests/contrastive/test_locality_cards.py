"""The contrastive rule under the setup check, the model cards, and the CLI's error handling."""

import re
from pathlib import Path

import pytest

from neuromorph.cli import main
from neuromorph.contrastive.card import load_contrastive_card, parse_contrastive_card
from tests.helpers import contrastive_table
from neuromorph.contrastive.check import check_profile
from neuromorph.errors import ConfigError
from neuromorph.plasticity.base import Read, Scope, Signal, Temporal
from neuromorph.plasticity.contrastive import ClassicalContrastive, Contrastive

MODELS = Path(__file__).resolve().parents[2] / "models"


def _card(model="ep", **rule):
    return parse_contrastive_card(contrastive_table(model, rule=rule))


def test_rule_declares_a_chip_wide_broadcast_phase_signal_and_online_updates():
    rule = Contrastive()
    assert Read(Signal.BROADCAST_SIGNAL, Scope.CHIP, signed=True) in rule.reads
    assert rule.temporal is Temporal.ONLINE and rule.update_interval == 1
    assert not any(r.signal is Signal.HISTORY for r in rule.reads)
    classical = ClassicalContrastive()
    assert classical.temporal is Temporal.OFFLINE and Read(Signal.HISTORY, Scope.HOST) in classical.reads
    assert Read(Signal.POST_TRACE, Scope.POST) in Contrastive(spiking=True).reads


@pytest.mark.parametrize("model, profile", [("ep", "ideal"), ("spiking", "ideal"), ("spiking", "brainscales2")])
def test_accepted_where_the_chip_provides_a_broadcast_signal(model, profile):
    report = check_profile(_card(model), profile)
    assert report.ok, report.format()
    assert any(f.topic == "broadcast_signal" and f.level == "ok" for f in report.findings)


@pytest.mark.parametrize("profile", ["spinnaker2", "loihi2", "loihi1"])
def test_rejected_without_a_broadcast_signal_and_the_fix_is_named(profile):
    report = check_profile(_card("spiking"), profile)
    assert not report.ok
    messages = [f.message for f in report.rejections if f.topic == "broadcast_signal"]
    assert messages, report.format()
    assert "scope 'chip'" in messages[0] and 'rule.delivery = "post"' in messages[0]


def test_the_named_fix_works_per_neuron_delivery():
    """spinnaker2 (signed per-neuron third factor) takes delivery = "post"; Loihi 2 needs the signed split."""
    assert check_profile(_card("spiking", delivery="post"), "spinnaker2").ok
    unsplit = check_profile(_card("spiking", delivery="post"), "loihi2")
    assert not unsplit.ok and "split_signed" in unsplit.rejections[0].message
    assert check_profile(_card("spiking", delivery="post", split_signed=True), "loihi2").ok


def test_classical_reference_needs_stored_history():
    assert check_profile(_card("spiking"), "ideal", classical=True).ok
    report = check_profile(_card("spiking"), "brainscales2", classical=True)
    assert not report.ok and "history" in report.rejections[0].message


@pytest.mark.parametrize("name", ["cl_xor.toml", "cl_digits.toml"])
def test_shipped_cards_load(name):
    card = load_contrastive_card(MODELS / name)
    assert card.task.name in name and set(card.train.schemes) == {"classical", "periodic", "random"}
    assert check_profile(card, "ideal").ok


@pytest.mark.parametrize("table, key", [
    ({"task": {"name": "xor"}, "network": {"modle": "ep"}}, "modle"),
    ({"task": {"name": "xor"}, "network": {"neuron": {"model": "boltzmann"}}}, "[network.neuron] model"),
    ({"task": {"name": "xor"}, "network": {"neuron": {"model": "lif"}}}, "[network.neuron] model"),
    ({"task": {"name": "xor"}, "network": {"model": "ep"}}, "unknown key [network] 'model'"),
    ({"task": {"name": "xor"}, "rule": {"teaching": "shout"}}, "teaching"),
    ({"task": {"name": "xor"}, "rule": {"name": "eprop"}}, "[rule] name"),
    ({"task": {"name": "xor"}, "rule": {"scale": -1.0}}, "[rule] scale"),
    ({"task": {"name": "xor"}, "rule": {"p_plus": 0.3}}, "p_plus"),
    ({"task": {"name": "xor"}, "network": {"dt": 2.0}}, "network.dt"),
    ({"task": {"name": "mnist"}}, "[task] name"),
    ({"task": {"name": "xor"}, "contrastive": {"phases": {"steps": 41}}}, "[contrastive.phases] steps"),
    ({"task": {"name": "xor"}, "contrastive": {"phases": {"random": "poisson"}}}, "[contrastive.phases] random"),
    ({"task": {"name": "xor"}, "contrastive": {"schemes": ["classical", "fast"]}}, "[contrastive] schemes"),
    ({"task": {"name": "xor"}, "contrastive": {"lr": "big"}}, "lr"),
    ({"task": {"name": "xor"}, "phases": {"steps": 40}}, "[phases] is now [contrastive.phases]"),
    ({"task": {"name": "xor"}, "train": {"epochs": 4}}, "unknown section [train]"),
    ({"task": {"name": "xor"}, "contrastive": {}, "sweep": {}}, "at most one study section"),
    ({"task": {"name": "xor"}, "rule": {"delivery": "radio"}}, "delivery"),
    ({"task": {"name": "xor"}, "contrastive": {"phases": {"mean_plus": 0.5}}}, "mean_plus"),
    ({"network": {"model": "ep"}}, "[task] name"),
])
def test_bad_cards_name_the_file_and_key(table, key):
    with pytest.raises(ConfigError) as info:
        parse_contrastive_card(table, "card.toml")
    assert "card.toml" in str(info.value) and key in str(info.value)


def test_cli_bad_card_is_one_line_and_exit_2(tmp_path, capsys):
    card = tmp_path / "bad.toml"
    card.write_text('[task]\nname = "xor"\n[network.neuron]\nmodel = "hopfield"\n')
    assert main(["contrastive", "train", str(card), "--out", str(tmp_path / "o.h5")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(card) in err and "[network.neuron] model" in err
    assert main(["contrastive", "train", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "o.h5")]) == 1


def test_cli_check_reports_and_exits_1_on_a_rejection(tmp_path, capsys):
    card = tmp_path / "c.toml"
    card.write_text('[task]\nname = "xor"\n[network.neuron]\nmodel = "filtered_lif"\n')
    assert main(["contrastive", "check", str(card), "--profile", "brainscales2"]) == 0
    assert "broadcast_signal" in capsys.readouterr().out
    assert main(["contrastive", "check", str(card), "--profile", "loihi2"]) == 1
    err = capsys.readouterr().err
    assert re.search(r'fix: set rule\.delivery = "post"', err)


def test_cli_rejects_an_unknown_backend_before_training(tmp_path):
    """The brian2 lowering is tested in tests/brian2/test_contrastive.py; a bad switch fails in argparse."""
    with pytest.raises(SystemExit):
        main(["contrastive", "train", "models/cl_xor.toml", "--out", str(tmp_path / "x.h5"), "--backend", "loihi"])
    assert not (tmp_path / "x.h5").exists()


def test_every_fix_hint_names_keys_the_rule_s_own_card_has():
    """post_state is read by e-prop's regulariser and by contrastive rate units: each gets its own fix."""
    from neuromorph.config import load_card
    from neuromorph.hardware.setup import check_run

    eprop = check_run(load_card(MODELS / "eprop_sine.toml", {"hardware.profile": "loihi2"})).format()
    assert "fix: set rule.regularization.strength = 0" in eprop
    for classical in (False, True):
        text = check_profile(_card("ep"), "loihi2", classical=classical).format()
        assert "regularization" not in text, text
    text = check_profile(_card("ep"), "loihi2").format()
    assert 'fix: use spiking units (network.neuron.model = "filtered_lif"' in text
