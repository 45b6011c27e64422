"""Every bad input of issue 20's probe: one line on stderr, exit 1, nothing written (or the old file intact).

The error must name the file, the section and the key, so the user knows what to change.
"""

from __future__ import annotations

import math

import pytest

from neuromorph.config import load_card
from neuromorph.errors import ConfigError
from neuromorph.memory import check_memory, run_bytes
from tests.robustness.helpers import ROOT, edited, one_line_error

SINE = ROOT / "models" / "eprop_sine.toml"
LOIHI2 = ROOT / "hardware_profiles" / "loihi2.toml"

CARD_CASES = {
    "seed_beyond_64_bits": ({"train.seed": 2**64}, "seed"),
    "seed_negative": ({"train.seed": -1}, "train.seed"),
    "t_ref_inf": ({"network.neuron.t_ref": math.inf}, "t_ref"),
    "t_ref_nan": ({"network.neuron.t_ref": math.nan}, "t_ref"),
    "tau_mem_inf": ({"network.neuron.tau_mem": math.inf}, "tau_mem"),
    "weight_decay_nan": ({"optimizer.weight_decay": math.nan}, "weight_decay"),
    "task_name_table": ({"task.name": {"a": 1}}, "[task] name"),
    "neuron_model_list": ({"network.neuron.model": [1]}, "network.neuron.model"),
    "task_not_a_table": ({"task": 5}, "[task]"),
    "neuron_not_a_table": ({"network.neuron": 5}, "[network.neuron]"),
    "n_rec_zero": ({"network.n_rec": 0}, "n_rec"),
    "w_rec_gain_nan": ({"network.init.w_rec_gain": math.nan}, "w_rec_gain"),
    "v_th_inf": ({"network.neuron.v_th": math.inf}, "v_th"),
    "target_hz_inf": ({"rule.regularization.target_hz": math.inf}, "target_hz"),
    "lr_inf": ({"optimizer.lr": math.inf}, "lr"),
}


@pytest.mark.parametrize("case", sorted(CARD_CASES))
def test_a_bad_card_value_is_one_line_naming_file_and_key_and_writes_nothing(case, tmp_path, capsys):
    changes, key = CARD_CASES[case]
    card = edited(SINE, tmp_path / "bad.toml", changes)
    out = tmp_path / "run.h5"
    one_line_error(capsys, ["train", str(card), "--out", str(out), "--no-progress"], str(card), key)
    assert not out.exists() and list(tmp_path.iterdir()) == [card]


def test_a_bad_card_leaves_an_existing_run_file_byte_identical(tmp_path, capsys):
    out = tmp_path / "run.h5"
    out.write_bytes(b"previous content")
    card = edited(SINE, tmp_path / "bad.toml", {"network.neuron.t_ref": math.nan})
    one_line_error(capsys, ["train", str(card), "--out", str(out), "--no-progress"], "t_ref")
    assert out.read_bytes() == b"previous content"


def test_a_non_utf8_card_is_one_line(tmp_path, capsys):
    card = tmp_path / "latin1.toml"
    card.write_bytes(SINE.read_bytes() + "# caf\xe9\n".encode("latin-1"))
    one_line_error(capsys, ["train", str(card), "--out", str(tmp_path / "r.h5")], str(card), "UTF-8")


def test_a_directory_as_card_or_profile_is_one_line(tmp_path, capsys):
    folder = tmp_path / "cards.toml"
    folder.mkdir()
    one_line_error(capsys, ["train", str(folder), "--out", str(tmp_path / "r.h5")], str(folder), "directory")
    one_line_error(capsys, ["check", str(SINE), "--profile", str(folder)], str(folder), "directory")


def test_a_non_utf8_profile_is_one_line(tmp_path, capsys):
    profile = tmp_path / "mine.toml"
    profile.write_bytes(LOIHI2.read_bytes() + b"# \xff\xfe\n")
    one_line_error(capsys, ["check", str(SINE), "--profile", str(profile)], str(profile), "UTF-8")


PROFILE_CASES = {
    "negative_update_period": ('update_period_steps = { value = [1, 63]', 'update_period_steps = { value = [-5, 63]',
                               "update_period_steps"),
    "threshold_float_1e20": ("threshold_lsb = { value = 2097152", "threshold_lsb = { value = 1e20", "threshold_lsb"),
    "threshold_unreachable": ("threshold_lsb = { value = 2097152", f"threshold_lsb = {{ value = {2**40}",
                              "threshold_lsb"),
    "dt_inf": ("dt_s = { value = ", "dt_s = { value = inf, x = ", "dt_s"),
}


@pytest.mark.parametrize("case", sorted(PROFILE_CASES))
def test_a_bad_profile_value_is_one_line_naming_file_table_and_key(case, tmp_path, capsys):
    old, new, key = PROFILE_CASES[case]
    text = LOIHI2.read_text()
    assert old in text
    if case == "dt_inf":  # replace the whole value of dt_s
        lines = [ln if not ln.startswith("dt_s") else 'dt_s = { value = inf, src = "assumed" }' for ln in text.splitlines()]
        text = "\n".join(lines) + "\n"
    else:
        text = text.replace(old, new)
    profile = tmp_path / "mine.toml"
    profile.write_text(text)
    out = tmp_path / "r.h5"
    line = one_line_error(capsys, ["train", str(SINE), "--profile", str(profile), "--out", str(out)], str(profile), key)
    assert "[" in line  # the table
    assert not out.exists()


def test_the_threshold_bound_is_the_state_width(tmp_path):
    """2**state_bits - 1 is reachable (accepted), one more is not."""
    from neuromorph.hardware.profile import build
    import tomllib

    raw = tomllib.loads(LOIHI2.read_text())
    bits = raw["neuron"]["state_bits"]["value"]
    raw["neuron"]["threshold_lsb"]["value"] = 2**bits - 1
    build(raw, tmp_path / "edge.toml")
    raw["neuron"]["threshold_lsb"]["value"] = 2**bits
    with pytest.raises(ConfigError, match="threshold_lsb"):
        build(raw, tmp_path / "edge.toml")


@pytest.mark.parametrize("key,value", [("network.n_rec", 1_000_000), ("task.n_steps", 100_000_000)])
def test_a_run_too_big_for_memory_is_refused_at_load_with_the_numbers(key, value, tmp_path, capsys):
    card = edited(SINE, tmp_path / "big.toml", {key: value, "train.batch_size": 1000})
    line = one_line_error(capsys, ["train", str(card), "--out", str(tmp_path / "r.h5")], str(card), "GiB", str(value))
    assert "available" in line


def test_the_memory_check_compares_the_estimate_with_what_is_available():
    spec = load_card(SINE)
    n, t = spec.network, spec.task
    need = run_bytes(n.n_in, n.n_rec, n.n_out, t.n_steps, spec.train.batch_size, 4)
    assert need >= 4 * (n.n_rec * n.n_rec + t.n_steps * n.n_rec)  # at least W_rec and one state trajectory
    check_memory(spec, "x.toml", available=need)
    with pytest.raises(ConfigError, match=r"x.toml: the run needs at least .* GiB"):
        check_memory(spec, "x.toml", available=need - 1)


BIAS_CASES = {
    "lr_table": ({"bias_study.lr": {"bias": {"x": 1.0}}}, "[bias_study] lr"),
    "gains_table": ({"bias_study.gains": [{"a": 1.0}]}, "gains"),
    "gain_inf": ({"bias_study.gains": [math.inf]}, "gains"),
    "seed_negative": ({"bias_study.seeds": [-1]}, "seeds"),
}


@pytest.mark.parametrize("case", sorted(BIAS_CASES))
def test_a_bad_bias_study_value_is_one_line(case, tmp_path, capsys):
    changes, key = BIAS_CASES[case]
    card = edited(ROOT / "models" / "bias_vdp.toml", tmp_path / "study.toml", changes)
    out = tmp_path / "out"
    one_line_error(capsys, ["bias", str(card), "--out", str(out), "--no-progress"], str(card), key)
    assert not out.exists()


@pytest.mark.parametrize("changes,key", [({"contrastive.seeds": [-1, 0]}, "seeds"), ({"task.split_seed": -3}, "split_seed"),
                                        ({"contrastive.tolerance": math.nan}, "tolerance")])
def test_a_bad_contrastive_card_is_one_line(changes, key, tmp_path, capsys):
    card = edited(ROOT / "models" / "cl_xor.toml", tmp_path / "cl.toml", changes)
    out = tmp_path / "o.h5"
    one_line_error(capsys, ["contrastive", "train", str(card), "--out", str(out), "--no-progress"], str(card), key)
    assert not out.exists()


@pytest.mark.parametrize("args,key", [(["--runs", "-3"], "--runs"), (["--runs", "0"], "--runs"),
                                      (["--t-run", "nan"], "--t-run"), (["--seed", "-1"], "--seed")])
def test_bad_kappa_arguments_are_one_line_and_write_nothing(args, key, tmp_path, capsys):
    out = tmp_path / "k.h5"
    one_line_error(capsys, ["contrastive", "kappa", "--out", str(out), "--no-progress", *args], key)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("changes,key", [
    ({"theory_compare.rank.n_steps": 0}, "n_steps"),
    ({f"theory_compare.{k}": [] for k in ("modes.teacher_w", "modes.teacher_a", "modes.teacher_b", "modes.student_a",
                                          "modes.student_b", "modes.student_w", "rflo.a_hat")}, "teacher_w"),
    ({f"theory_compare.order.{k}": [] for k in ("teacher_a", "teacher_b", "teacher_w")}, "[theory_compare.order]")])
def test_a_bad_theory_card_is_one_line(changes, key, tmp_path, capsys):
    card = edited(ROOT / "models" / "linear_teacher.toml", tmp_path / "t.toml", changes)
    out = tmp_path / "t.h5"
    one_line_error(capsys, ["theory", "compare", str(card), "--out", str(out), "--no-progress"], str(card), key)
    assert not out.exists()


def test_a_usage_error_keeps_argparse_exit_code_2(capsys):
    from neuromorph.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["train"])
    assert exc.value.code == 2
