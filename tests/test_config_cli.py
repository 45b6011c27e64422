"""Model cards and the CLI: bad input gets a specific error and one line, never a traceback."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from neuromorph.cli import main
from neuromorph.config import card_to_toml, load_card, resolve, resolved_card
from neuromorph.errors import ConfigError, ShapeError
from neuromorph.experiment import train
from neuromorph.network import Parameters
from neuromorph.plasticity import EProp, Feedback, Mode, Target

ROOT = Path(__file__).resolve().parents[1]
COMPARISON_CARDS = {"linear_teacher",  # read by `neuromorph theory compare`, not by `train`
                    "cl_xor", "cl_digits"}  # read by `neuromorph contrastive train`
CARDS = sorted(c for c in (ROOT / "models").glob("*.toml") if c.stem not in COMPARISON_CARDS)


def test_a_comparison_card_given_to_train_names_the_right_command():
    with pytest.raises(ConfigError, match="neuromorph theory compare"):
        load_card(ROOT / "models" / "linear_teacher.toml")


def test_a_contrastive_card_given_to_train_names_the_right_command():
    with pytest.raises(ConfigError, match="neuromorph contrastive train"):
        load_card(ROOT / "models" / "cl_xor.toml")


@pytest.mark.parametrize("card", CARDS, ids=[c.stem for c in CARDS])
def test_every_shipped_card_resolves_and_round_trips(card):
    spec = load_card(card)
    again = resolve(resolved_card(spec))
    assert again == spec
    assert card_to_toml(resolved_card(again)) == card_to_toml(resolved_card(spec))


def test_card_values_reach_the_specs():
    spec = load_card(ROOT / "models/eprop_sine.toml")
    assert spec.network.n_in == 100 and spec.network.n_out == 1
    assert spec.network.neuron.v_th == 0.03 and spec.network.neuron.input_scaling
    assert spec.rule == EProp(
        feedback=Feedback.RANDOM, mode=Mode.FACTORED, targets=frozenset({Target.W_IN, Target.W_REC, Target.W_OUT}),
        regularization=spec.rule.regularization,
    )
    assert spec.rule.regularization.strength == 300.0


def test_regularization_rate_key(tmp_path, capsys):
    """``rule.regularization.rate``: "batch" by default, "sequence" from the card or ``--set``, anything else a
    one-line ConfigError naming the allowed values."""
    sine = ROOT / "models/eprop_sine.toml"
    assert load_card(sine).rule.regularization.rate == "batch"
    text = sine.read_text().replace("[rule.regularization]", '[rule.regularization]\nrate = "sequence"')
    (tmp_path / "seq.toml").write_text(text)
    spec = load_card(tmp_path / "seq.toml")
    assert spec.rule.regularization.rate == "sequence" and spec.rule.regularization.strength == 300.0
    assert resolve(resolved_card(spec)) == spec  # round trip through the stored card
    for bad in ('"mean"', "1"):
        (tmp_path / "bad.toml").write_text(text.replace('rate = "sequence"', f"rate = {bad}"))
        with pytest.raises(ConfigError, match=r"rule.regularization.rate must be one of \['batch', 'sequence'\]"):
            load_card(tmp_path / "bad.toml")
    out = tmp_path / "run.h5"
    small = ["task.n_steps=60", "task.n_in=10", "network.n_rec=20", "train.engine=\"torch\"",
             "rule.regularization.rate=sequence"]
    assert main(["train", str(sine), "--out", str(out), "--iterations", "1", "--no-progress",
                 *(a for item in small for a in ("--set", item))]) == 0
    from neuromorph import load_run

    assert load_run(out).spec.rule.regularization.rate == "sequence"
    capsys.readouterr()
    assert main(["train", str(sine), "--out", str(tmp_path / "x.h5"), "--set", "rule.regularization.rate=median"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rule.regularization.rate must be one of ['batch', 'sequence'], got 'median'" in err[0]
    assert not (tmp_path / "x.h5").exists()


def test_n_adaptive_builds_a_mixed_population():
    spec = load_card(ROOT / "models/eprop_evidence.toml")
    beta = spec.network.neuron.beta
    assert beta[:50] == (0.0,) * 50 and beta[50:] == (0.0174,) * 50


@pytest.mark.parametrize(
    "text, needle",
    [
        ('[task]\nname = "sine"\nbogus = 1\n', "unknown key [task] 'bogus'"),
        ('[task]\nname = "sine"\n[network]\nn_rec = 10\nspeed = 3\n', "unknown key [network] 'speed'"),
        ('[task]\nname = "sine"\n[network.neuron]\ntau_mem = "fast"\n', "tau_mem must be float"),
        ('[task]\nname = "sine"\n[network.neuron]\ntau_mem = -1.0\n', "tau_mem must be > 0"),
        ('[task]\nname = "nope"\n', "[task] name must be one of"),
        ('[task]\nname = "sine"\n[rule]\nfeedback = "telepathic"\n', "must be one of ['symmetric', 'random', 'adaptive']"),
        ('[task]\nname = "sine"\n[rule]\nupdate_interval = 10\n', 'set rule.mode = "online"'),
        ('[task]\nname = "sine"\n[rule]\ntargets = ["w_everything"]\n', "targets must be one of"),
        ('[task]\nname = "sine"\n[network]\ndt = 0.002\n', "differs from the task's dt"),
        ("[task\n", "invalid TOML"),
    ],
)
def test_bad_cards_raise_config_error_naming_the_file_and_key(tmp_path, text, needle):
    card = tmp_path / "bad.toml"
    card.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_card(card)
    assert str(card) in str(info.value) and needle in str(info.value)


def test_wrong_weight_shapes_raise_shape_error():
    spec = load_card(ROOT / "models/eprop_sine.toml", {"train.iterations": 1})
    n = spec.network
    params = Parameters(torch.zeros(n.n_rec, n.n_in + 1), torch.zeros(n.n_rec, n.n_rec), torch.zeros(n.n_out, n.n_rec),
                        torch.zeros(n.n_rec), torch.zeros(n.n_out))
    with pytest.raises(ShapeError, match=r"w_in has shape \(100, 101\), expected \(100, 100\)"):
        train(spec, params=params, progress=False)


def test_cli_prints_one_line_and_exits_nonzero(tmp_path):
    card = tmp_path / "bad.toml"
    card.write_text('[task]\nname = "sine"\nbogus = 1\n')
    proc = subprocess.run([sys.executable, "-m", "neuromorph", "train", str(card), "--out", str(tmp_path / "x.h5")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neuromorph: error:") and "bogus" in lines[0]
    assert "Traceback" not in proc.stderr


def test_cli_rejects_a_foreign_hdf5_file(tmp_path, capsys):
    import h5py

    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = [1, 2, 3]
    assert main(["plot", str(foreign)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "neuromorph" in err[0]


def test_cli_set_overrides_parse_toml_values(tmp_path):
    from neuromorph.cli import _parse_set

    assert _parse_set(["train.iterations=7", "rule.feedback=symmetric", "network.neuron.v_th=0.5"]) == {
        "train.iterations": 7, "rule.feedback": "symmetric", "network.neuron.v_th": 0.5}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        _parse_set(["oops"])
