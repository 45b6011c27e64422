"""``neuromorph bias``: study cards, per-run files, resume, summary HDF5, figures and bad input."""

from __future__ import annotations

import tomllib

import h5py
import numpy as np
import pytest

from neuromorph.bias.run import run_study, trained_parameters
from neuromorph.storage.bias import read_study
from neuromorph.bias.study import load_study
from neuromorph.cli import main
from neuromorph.errors import ConfigError, StorageError

TINY_MULTITASK = ["--set", 'bias_study.variants=["original","inverted"]', "--set", "bias_study.widths=[8,32]",
                  "--set", 'bias_study.modes=["bias","readout"]', "--set", "train.iterations=20"]
TINY_GAIN = {"bias_study.gains": [0.5, 1.5], "bias_study.eval_steps": 60, "bias_study.seeds": [0],
             "train.iterations": 3, "network.n_rec": 16, "task.n_steps": 40}


def test_multitask_cli_writes_runs_summary_and_figure(tmp_path, capsys):
    out = tmp_path / "mt"
    assert main(["bias", "models/bias_multitask.toml", "--out", str(out), "--no-progress", *TINY_MULTITASK]) == 0
    printed = capsys.readouterr().out
    assert "held-out accuracy" in printed and "width 32" in printed
    assert len(list((out / "runs").glob("*.h5"))) == 2 * 2 * 2
    tree = read_study(out / "summary.h5")
    assert tree["kind"] == "multitask" and tree["accuracy"].shape == (2, 2, 2, 1)
    assert tomllib.loads(tree["card"])["bias_study"]["widths"] == [8, 32]  # the card as run, overrides included
    assert np.all((0 <= tree["accuracy"]) & (tree["accuracy"] <= 1))
    assert list(tree["trained_parameters"][0]) == [8, 32]  # bias only: one number per hidden neuron
    assert list(tree["trained_parameters"][1]) == [8 * 10 + 10, 32 * 10 + 10]  # readout: W_out and b_out
    assert (out / "multitask_accuracy.png").stat().st_size > 10_000


def test_a_rerun_reads_finished_runs_back_instead_of_training(tmp_path):
    overrides = {"bias_study.variants": ["original"], "bias_study.widths": [8], "bias_study.modes": ["bias"],
                 "train.iterations": 10}
    first = run_study(load_study("models/bias_multitask.toml", overrides), tmp_path, progress=False)
    run_file = next((tmp_path / "runs").glob("*.h5"))
    stamp = run_file.stat().st_mtime_ns
    again = run_study(load_study("models/bias_multitask.toml", overrides), tmp_path, progress=False)
    assert run_file.stat().st_mtime_ns == stamp, "a finished run must not be trained or written again"
    np.testing.assert_array_equal(first.tree["accuracy"], again.tree["accuracy"])


def test_gain_study_records_errors_examples_and_jacobian_spectra(tmp_path):
    result = run_study(load_study("models/bias_vdp.toml", TINY_GAIN), tmp_path, progress=False)
    tree = read_study(result.path)
    assert tree["nmse"].shape == tree["nmse_beyond"].shape == (2, 2, 1) and tree["success"].dtype == bool
    assert np.array_equal(tree["success"], tree["nmse"] < tree["success_nmse"])
    spectrum = tree["jacobian"]["bias_g0.5"]
    assert spectrum["before"].shape == (16,) and np.iscomplexobj(spectrum["after"])
    # before learning b = 0 and u* = 0 is the fixed point, where tanh' = 1: the spectrum is eig(W_rec)
    assert np.max(np.abs(spectrum["before"])) < 1.0 < np.max(np.abs(tree["jacobian"]["bias_g1.5"]["before"]))
    assert tree["examples"]["bias_g1.5"]["y"].shape == (60, 2)
    assert {p.name for p in result.figures} == {"gain_success.png", "gain_jacobian.png"}


def test_lorenz_study_forecasts_teacher_forced_and_in_closed_loop(tmp_path):
    overrides = {"train.iterations": 3, "network.n_rec": 16, "task.n_steps": 60, "bias_study.modes": ["bias"],
                 "bias_study.closed_loop_steps": 50, "bias_study.warmup": 30}
    result = run_study(load_study("models/bias_lorenz.toml", overrides), tmp_path, progress=False)
    traces = result.tree["traces"]["bias"]
    assert traces["closed_loop"].shape == traces["target"].shape == (80,)
    # during warm-up the closed loop is driven by the true series, exactly like teacher forcing
    np.testing.assert_allclose(traces["closed_loop"][:30], traces["teacher_forced"][:30], rtol=0, atol=1e-6)
    assert not np.allclose(traces["closed_loop"][40:], traces["teacher_forced"][40:])


def test_trained_parameter_counts_follow_the_modes():
    spec = load_study("models/bias_vdp.toml").base
    n, n_in, n_out = spec.network.n_rec, spec.network.n_in, spec.network.n_out
    assert trained_parameters(spec, "bias") == n
    assert trained_parameters(spec, "full") == n * n_in + n * n + n + n_out * n + n_out  # rate units: self-connections
    ffn = load_study("models/bias_multitask.toml").base  # one step: the recurrent weights are never read
    assert trained_parameters(ffn, "full") == 64 * 256 + 256 + 10 * 256 + 10


@pytest.mark.parametrize(("overrides", "message"), [
    ({"bias_study.kind": "mnist"}, "kind must be one of"),
    ({"bias_study.modes": ["weights"]}, "'weights' is not one of"),
    ({"bias_study.typo": 1}, "unknown key \\[bias_study\\] 'typo'"),
    ({"bias_study.widths": [8, "wide"]}, "widths must be a list of int"),
    ({"bias_study.lr": {"bias": -1.0}}, "positive rate"),
    ({"bias_study.kind": "gain"}, "needs \\[task\\] name = \"trajectory\""),
])
def test_bad_study_cards_raise_config_errors_naming_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_study("models/bias_multitask.toml", overrides)


def test_plain_model_cards_and_foreign_files_get_one_line_errors(tmp_path, capsys):
    assert main(["bias", "models/eprop_sine.toml", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "no [bias_study] table" in err and err.count("\n") == 1
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f.attrs["format"] = "something-else"
    with pytest.raises(StorageError, match="not a bias-study summary"):
        read_study(tmp_path / "foreign.h5")
    (tmp_path / "corrupt.h5").write_bytes(b"not hdf5")
    with pytest.raises(StorageError, match="not a readable HDF5 file"):
        read_study(tmp_path / "corrupt.h5")


def test_neuromorph_train_runs_the_base_network_of_a_study_card(tmp_path, capsys):
    out = tmp_path / "vdp.h5"
    assert main(["train", "models/bias_vdp.toml", "--out", str(out), "--no-progress", "--iterations", "2",
                 "--set", "network.n_rec=10"]) == 0
    assert out.exists() and "2 iterations" in capsys.readouterr().out


def test_a_diverging_run_is_recorded_as_failed_and_the_study_goes_on(tmp_path, capsys):
    overrides = {**TINY_GAIN, "bias_study.gains": [0.5], "bias_study.lr": {"bias": 1e30}, "optimizer.name": "sgd",
                 "network.neuron.activation": "linear"}  # a linear network with a huge rate overflows to inf
    result = run_study(load_study("models/bias_vdp.toml", overrides), tmp_path, progress=False)
    from neuromorph.storage import read_run

    assert read_run(tmp_path / "runs" / "bias_w_rec_gain0.5_seed0.h5").status == "failed"
    assert np.isnan(result.tree["nmse"][0, 0, 0]) and np.isfinite(result.tree["nmse"][1, 0, 0])
    assert "bias_w_rec_gain0.5_seed0 failed" in capsys.readouterr().err


def test_an_edited_card_needs_force_to_retrain_its_runs(tmp_path, capsys):
    args = ["bias", "models/bias_vdp.toml", "--out", str(tmp_path), "--no-progress", "--set", "bias_study.gains=[0.5]",
            "--set", "bias_study.modes=[\"bias\"]", "--set", "network.n_rec=8", "--set", "task.n_steps=30",
            "--set", "bias_study.eval_steps=40"]
    assert main([*args, "--set", "train.iterations=2"]) == 0
    assert main([*args, "--set", "train.iterations=3"]) == 1
    assert "different model card" in capsys.readouterr().err
    assert main([*args, "--set", "train.iterations=3", "--force"]) == 0
