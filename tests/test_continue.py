"""Runs you can continue and reuse: `--continue`, train(resume=...), load_run, simulate, record_every."""

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import neuromorph
from neuromorph import experiment
from neuromorph.cli import main
from neuromorph.config import load_card
from neuromorph.errors import ConfigError, ShapeError, StorageError
from neuromorph.storage import read_run

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"train.precision": "float64", "task.n_steps": 60, "task.n_in": 10, "network.n_rec": 20,
         "train.checkpoint_every": 50}
OPTIMIZERS = {"adam": {}, "sgd": {"optimizer.name": "sgd", "optimizer.lr": 1e-2}}


def card(iterations, **more):
    return load_card(ROOT / "models/eprop_sine.toml", {**SMALL, "train.iterations": iterations, **more})


def assert_same_run(a, b):
    for name, x, y in zip(a.params._fields, a.params, b.params):
        assert torch.equal(x, y), name
    assert torch.equal(a.feedback, b.feedback)
    for name in a.curves:
        np.testing.assert_array_equal(a.curves[name], b.curves[name], err_msg=name)


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_ten_plus_ten_iterations_equal_twenty(tmp_path, optimizer):
    more = OPTIMIZERS[optimizer]
    whole = experiment.train(card(20, **more), progress=False)
    out = tmp_path / "run.h5"
    experiment.train(card(10, **more), out=out, progress=False)
    continued = experiment.train(card(20, **more), resume=out, progress=False)
    assert continued.resumed_from == 10 and continued.iterations == 20
    assert_same_run(continued, whole)
    record = read_run(out)
    assert record.status == "complete" and record.iteration == 20
    np.testing.assert_array_equal(record.curves["loss"], whole.curves["loss"])  # old + new iterations
    run = neuromorph.load_run(out)
    assert run.optimizer_state["updates"] == 20  # one factored update per iteration, both segments
    if optimizer == "adam":
        assert {"exp_avg", "exp_avg_sq", "step"} <= set(run.optimizer_state["optimizer"]["state"][0])
    assert torch.equal(run.params.w_rec, whole.params.w_rec)


def test_chip_run_continues_with_its_rounding_generator(tmp_path):
    """loihi2: stochastic update rounding draws from the chip's generator; 2 + 2 iterations equal 4."""
    over = {"train.precision": "float64", "task.n_steps": 100, "task.n_in": 10, "network.n_rec": 12,
            "hardware.profile": "loihi2", "hardware.rounding": "stochastic"}
    chip = lambda n: load_card(ROOT / "models/eprop_sine_chip.toml", {**over, "train.iterations": n})  # noqa: E731
    whole = experiment.train(chip(4), progress=False)
    out = tmp_path / "chip.h5"
    experiment.train(chip(2), out=out, progress=False)
    continued = experiment.train(chip(4), resume=out, progress=False)
    assert_same_run(continued, whole)


def test_cli_continue_takes_the_new_total_and_refuses_other_changes(tmp_path, capsys):
    out = tmp_path / "run.h5"
    sets = [a for k, v in SMALL.items() for a in ("--set", f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}")]
    sets = [s.replace("'", '"') for s in sets]
    assert main(["train", str(ROOT / "models/eprop_sine.toml"), "--out", str(out), "--iterations", "3",
                 "--no-progress", *sets]) == 0
    # the plain command with more iterations points at --continue instead of calling it another card
    assert main(["train", str(ROOT / "models/eprop_sine.toml"), "--out", str(out), "--iterations", "5",
                 "--no-progress", *sets]) == 1
    assert "--continue --iterations N" in capsys.readouterr().err
    assert main(["train", str(out), "--continue", "--iterations", "5", "--no-progress"]) == 0
    assert read_run(out).curves["loss"].shape == (5,)
    capsys.readouterr()
    assert main(["train", str(out), "--continue", "--iterations", "6", "--set", "optimizer.lr=0.1",
                 "--set", "network.n_rec=21", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "network.n_rec (20 -> 21)" in err and "optimizer.lr" in err and "only train.iterations" in err
    assert main(["train", str(out), "--continue", "--iterations", "4", "--no-progress"]) == 1
    assert "already holds 5 iterations" in capsys.readouterr().err
    assert main(["train", str(out), "--continue", "--no-progress"]) == 1
    assert "--continue needs --iterations N" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "missing.h5"), "--continue", "--iterations", "9"]) == 1
    assert "no run file at" in capsys.readouterr().err
    assert read_run(out).iteration == 5  # refused continues leave the file as it was


def test_load_run_refuses_missing_corrupt_and_foreign_files(tmp_path):
    with pytest.raises(StorageError, match="no run file"):
        neuromorph.load_run(tmp_path / "none.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(StorageError, match="not a readable HDF5 run file"):
        neuromorph.load_run(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(StorageError, match="not a neuromorph run"):
        neuromorph.load_run(tmp_path / "foreign.h5")


def test_simulate_reproduces_the_recorded_iteration_of_an_unchanged_network(tmp_path):
    """With lr = 1e-300 (no float64 change) the final parameters are those the last iteration ran with:
    simulate gives its output."""
    out = tmp_path / "run.h5"
    experiment.train(card(2, **{"optimizer.name": "sgd", "optimizer.lr": 1e-300}), out=out, progress=False)
    run = neuromorph.load_run(out)
    assert run.spec == card(2, **{"optimizer.name": "sgd", "optimizer.lr": 1e-300})
    assert run.feedback.shape == (20, 1) and run.params.w_rec.dtype == torch.float64
    rec = neuromorph.simulate(run, torch.as_tensor(run.last["inputs"]))
    np.testing.assert_array_equal(rec.spikes.numpy(), run.last["spikes"])
    np.testing.assert_allclose(rec.readout.numpy(), run.last["output"], rtol=1e-12, atol=1e-14)
    assert rec.membrane.shape == rec.spikes.shape == (60, 1, 20)
    with pytest.raises(ShapeError, match=r"expected \(T, B, n_in=10\)"):
        neuromorph.simulate(run, torch.zeros(60, 10))
    with pytest.raises(ConfigError, match="load_run"):
        neuromorph.simulate("run.h5", torch.zeros(60, 1, 10))


def test_record_every_keeps_each_recorded_iteration(tmp_path):
    out = tmp_path / "run.h5"
    experiment.train(card(5, **{"train.record_every": 2}), out=out, progress=False)
    record = read_run(out)
    assert sorted(record.recorded) == [2, 4, 5]
    np.testing.assert_array_equal(record.recorded[5]["spikes"], record.last["spikes"])
    assert record.recorded[2]["spikes"].dtype == np.uint8 and "learning_signal" in record.recorded[2]["rule_state"]
    experiment.train(card(7, **{"train.record_every": 2}), resume=out, progress=False)
    assert sorted(read_run(out).recorded) == [2, 4, 5, 6, 7]  # a segment's last iteration is recorded too
    with pytest.raises(ConfigError, match="record_every must be >= 1"):
        card(5, **{"train.record_every": 0})


def test_sine_target_stays_float64_in_a_float64_run():
    task = card(1).task
    batch = task.sample(2, torch.Generator(), dtype=torch.float64)
    assert batch.targets.dtype == torch.float64
    assert torch.equal(batch.targets[:, 0, 0], task.target_signal())
    assert task.sample(2, torch.Generator()).targets.dtype == torch.float32


def test_the_readme_load_run_snippet_runs(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text()
    start = text.index("A run file is read back with `load_run`")
    code = text[text.index("```python\n", start) + len("```python\n"):text.index("```\n", text.index("```python\n",
                                                                                                    start) + 9)]
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102
    assert scope["rec"].spikes.shape == (500, 2, 20) and scope["rec"].readout.shape == (500, 2, 1)


def test_an_interrupted_run_continues_into_another_file(tmp_path, monkeypatch):
    from tests.helpers import interrupt_at

    every = {"train.checkpoint_every": 1}
    whole = experiment.train(card(8, **every), progress=False)
    out, other = tmp_path / "run.h5", tmp_path / "more.h5"
    interrupt_at(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        experiment.train(card(5, **every), out=out, progress=False)
    monkeypatch.undo()
    assert read_run(out).status == "running" and read_run(out).iteration == 3
    continued = experiment.train(card(8, **every), resume=out, out=other, progress=False)
    assert continued.resumed_from == 3
    assert_same_run(continued, whole)
    assert read_run(out).iteration == 3 and read_run(other).iteration == 8  # the source is left as it was
    with pytest.raises(ConfigError, match="exists: continuing"):
        experiment.train(card(9, **every), resume=out, out=other, progress=False)
