"""The setup check: the documented rule x profile table, and messages that name signal, scope and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuromorph.cli import main
from neuromorph.config import load_card
from neuromorph.errors import HardwareProfileError, LocalityError
from neuromorph.hardware.setup import check_run, prepare
from neuromorph.hardware.table import RULE_CASES, rule_profile_matrix

R, OK = "rejected: ", "runs"
# The table of docs/hardware.md. Each verdict follows from the profile's [locality] and [plasticity]
# tables, whose entries name their sources (e.g. Davies et al. 2018, Lava); docs/hardware.md explains each
# cell under "Which rule runs on which chip". Loihi traces are unsigned (split needed) and Loihi 1 neurons
# cannot compute a pseudo-derivative; the Loihi engines read only synapse/pre/post (no W_out^T); BrainScaleS-2
# stores an unsigned eligibility (no ALIF); Xylo has 16 inputs and no plasticity; only the ideal
# profile keeps history on chip.
EXPECTED = {
    "e-prop, tutorial card": {
        "brainscales2": R + "optimizer", "ideal": OK,
        "loihi1": R + "learning_signal, output_error, post_state, pseudo_derivative, epoch, optimizer",
        "loihi2": R + "learning_signal, output_error, post_state, epoch, optimizer", "spinnaker2": OK,
        "xylo": R + "size, plasticity"},
    "e-prop, chip card": {"brainscales2": OK, "ideal": OK, "loihi1": R + "pseudo_derivative", "loihi2": OK, "spinnaker2": OK,
                              "xylo": R + "size, plasticity"},
    "without the sign split": {"brainscales2": OK, "ideal": OK, "loihi1": R + "learning_signal, output_error, pseudo_derivative",
                                   "loihi2": R + "learning_signal, output_error", "spinnaker2": OK, "xylo": R + "size, plasticity"},
    "with symmetric feedback": {"brainscales2": OK, "ideal": OK, "loihi1": R + "pseudo_derivative, weights_transposed",
                                    "loihi2": R + "weights_transposed", "spinnaker2": OK, "xylo": R + "size, plasticity"},
    "ALIF neurons": {"brainscales2": R + "neuron, eligibility", "ideal": OK, "loihi1": R + "neuron, pseudo_derivative",
                         "loihi2": OK, "spinnaker2": OK, "xylo": R + "neuron, size, plasticity"},
    "learning biases too": {"brainscales2": OK, "ideal": OK, "loihi1": R + "pseudo_derivative", "loihi2": OK + " (bias mapped)",
                                "spinnaker2": OK, "xylo": R + "size, plasticity"},
    "RFLO, chip card": {"brainscales2": OK, "ideal": OK, "loihi1": R + "pseudo_derivative", "loihi2": OK, "spinnaker2": OK,
                            "xylo": R + "size, plasticity"},
    "BPTT": {"brainscales2": R + "history", "ideal": OK, "loihi1": R + "history", "loihi2": R + "history",
                 "spinnaker2": R + "history", "xylo": R + "size, plasticity"},
    "BPTT, trained on the host": {"brainscales2": OK, "ideal": OK, "loihi1": OK, "loihi2": OK, "spinnaker2": OK, "xylo": R + "size"},
}


def test_rule_profile_table_matches_the_documentation():
    rows = rule_profile_matrix(load_card)
    assert len(rows) == len(RULE_CASES) == len(EXPECTED)
    for (label, cells), (key, expected) in zip(rows, EXPECTED.items()):
        assert key in label
        assert cells == expected, label


def test_cli_rule_table_is_the_one_in_the_documentation(capsys):
    """``neuromorph profiles --rules`` prints the Markdown table of docs/hardware.md, row for row."""
    assert main(["profiles", "--rules"]) == 0
    printed = capsys.readouterr().out.splitlines()
    start = printed.index(next(line for line in printed if line.startswith("| rule |")))
    table = printed[start:]
    docs = Path(__file__).resolve().parents[2] / "docs" / "hardware.md"
    documented = [line for line in docs.read_text().splitlines() if line.startswith("|")]
    assert len(table) == len(RULE_CASES) + 2
    assert table == documented[documented.index(table[0]):][: len(table)]


def _report(card, profile, **overrides):
    return check_run(load_card(card, {**overrides, "hardware.profile": profile}))


def test_signed_signal_through_unsigned_trace_names_the_split():
    report = _report("models/eprop_sine_chip.toml", "loihi2", **{"rule.split_signed": False})
    first = report.rejections[0]
    assert first.topic == "learning_signal" and first.error is LocalityError
    for part in ("'learning_signal'", "scope 'post'", "unsigned", "rule.split_signed = true"):
        assert part in first.message


def test_scope_rejection_names_allowed_scopes_and_fix():
    report = _report("models/eprop_sine_chip.toml", "loihi2", **{"rule.feedback": "symmetric"})
    (finding,) = report.rejections
    for part in ("'weights_transposed'", "scope 'core'", "['synapse', 'pre', 'post']", 'rule.feedback = "random"'):
        assert part in finding.message


def test_offline_rule_is_rejected_for_on_chip_learning():
    with pytest.raises(LocalityError, match=r"'history' at scope 'host'.*--mode offline"):
        prepare(load_card("models/bptt_sine.toml", {"hardware.profile": "loihi2"}))


def test_bias_learning_maps_to_a_bias_synapse_on_loihi2_and_is_native_on_spinnaker2():
    targets = {"rule.targets": ["w_in", "w_rec", "w_out", "bias"]}
    loihi = _report("models/eprop_sine_chip.toml", "loihi2", **targets)
    assert [f.level for f in loihi.findings if f.topic == "bias"] == ["mapped"]
    spinnaker = _report("models/eprop_sine_chip.toml", "spinnaker2", **targets)
    assert [f.level for f in spinnaker.findings if f.topic == "bias"] == ["ok"]


def test_no_on_chip_plasticity_points_to_offline_mode():
    report = _report("models/eprop_sine_chip.toml", "xylo")
    plasticity = next(f for f in report.rejections if f.topic == "plasticity")
    assert plasticity.error is HardwareProfileError and "--mode offline" in plasticity.message


def test_check_cli_exit_codes(capsys):
    assert main(["check", "models/bptt_sine.toml", "--profile", "loihi2"]) == 1
    captured = capsys.readouterr()
    assert "history" in captured.err and captured.err.count("\n") == 1
    assert main(["check", "models/eprop_sine.toml", "--profile", "spinnaker2"]) == 0
    assert "=> runs" in capsys.readouterr().out


def test_train_rejects_at_setup_before_simulating(tmp_path, capsys):
    out = tmp_path / "run.h5"
    assert main(["train", "models/eprop_sine.toml", "--profile", "loihi2", "--out", str(out), "--no-progress"]) == 1
    assert "split_signed" in capsys.readouterr().err and not out.exists()
