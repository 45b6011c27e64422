"""Divergence keeps the last good state; a resume refuses anything that would mix results.

Oracles are real runs: the parameters after the last good iteration are those of the same card
trained for exactly that many iterations (bit for bit, float64), not stored numbers.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from neuromorph import experiment
from neuromorph.config import load_card
from neuromorph.errors import ConfigError, NonFiniteError, StorageError
from neuromorph.network import init_parameters
from neuromorph.plasticity import Learner, OptimizerName, OptimizerSpec, Target
from neuromorph.storage import read_run
from tests.helpers import interrupt_at
from tests.robustness.helpers import ROOT, one_line_error

SMALL = {"task.n_steps": 80, "task.n_in": 10, "network.n_rec": 12, "train.iterations": 6, "train.checkpoint_every": 2,
         "train.precision": "float64"}
CHIP = {**SMALL, "rule.update_interval": 20}


def small(card: str = "models/eprop_sine.toml", **overrides):
    base = CHIP if card.endswith("_chip.toml") else SMALL
    return load_card(ROOT / card, {**base, **overrides})


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_divergence_at_lr_1e30_stores_exactly_the_last_good_iteration(optimizer, tmp_path):
    diverging = {"optimizer.name": optimizer, "optimizer.lr": 1e30, "train.precision": "float32"}
    spec = small(**diverging, **{"train.iterations": 50})
    out = tmp_path / "run.h5"
    with pytest.raises(NonFiniteError) as info:
        experiment.train(spec, out=out, progress=False)
    record = read_run(out, with_checkpoint=True)
    assert record.status == "failed" and record.error == str(info.value)
    good = record.iteration
    assert 0 <= good < 50 and record.curves["loss"].shape == (good,)
    if good == 0:
        expected, _ = init_parameters(spec.network, spec.init, torch.Generator().manual_seed(spec.train.seed),
                                      torch.float32)
        expected_curve = np.zeros(0)
    else:
        again = experiment.train(small(**diverging, **{"train.iterations": good}), progress=False)
        expected, expected_curve = again.params, again.curves["loss"]
    for name in ("w_in", "w_rec", "w_out"):
        np.testing.assert_array_equal(record.params[name], getattr(expected, name).numpy(), err_msg=name)
        assert np.isfinite(record.params[name]).all()
    np.testing.assert_array_equal(record.curves["loss"], expected_curve)


def test_a_first_iteration_failure_still_writes_a_failed_file(tmp_path):
    spec = small()
    params, feedback = init_parameters(spec.network, spec.init, torch.Generator().manual_seed(0), torch.float64)
    params = params._replace(w_in=params.w_in.sign() * 1e308)  # finite, but the membrane overflows at once
    out = tmp_path / "run.h5"
    with pytest.raises(NonFiniteError):
        experiment.train(spec, out=out, progress=False, params=params, feedback=feedback)
    record = read_run(out)
    assert record.status == "failed" and record.iteration == 0 and record.curves["loss"].shape == (0,)
    assert record.error and "NaN" in record.error or "Inf" in record.error
    np.testing.assert_array_equal(record.params["w_in"], params.w_in.numpy())


def test_learner_rolls_back_a_step_that_overflows_and_its_optimiser_state():
    w = torch.nn.Parameter(torch.tensor([[1.0, 2.0]], dtype=torch.float32))
    params = {Target.W_OUT: w}
    learner = Learner(OptimizerSpec(OptimizerName.SGD, lr=1e30), params, frozenset({Target.W_OUT}))
    learner.apply({Target.W_OUT: torch.tensor([[1e-3, 1e-3]])})  # 1e27: finite, applied
    after_good = w.detach().clone()
    state = {k: v for k, v in learner.state_dict().items() if k == "updates"}
    with pytest.raises(NonFiniteError, match="w_out"):
        learner.apply({Target.W_OUT: torch.tensor([[1e20, 1.0]])})  # 1e50 overflows float32
    assert torch.equal(w.detach(), after_good) and learner.updates == state["updates"] == 1

    adam_w = torch.nn.Parameter(torch.ones(1, 2, dtype=torch.float32))
    adam = Learner(OptimizerSpec(OptimizerName.ADAM, lr=1e-3), {Target.W_OUT: adam_w}, frozenset({Target.W_OUT}))
    adam.apply({Target.W_OUT: torch.ones(1, 2)})
    before = {k: v.clone() for k, v in adam.optimizer.state[adam_w].items()}
    with pytest.raises(NonFiniteError, match="exp_avg_sq"):
        adam.apply({Target.W_OUT: torch.full((1, 2), 1e30)})  # grad**2 overflows the second moment
    for key, value in adam.optimizer.state[adam_w].items():
        assert torch.equal(value, before[key]), key


def _interrupted(tmp_path, monkeypatch, spec, **kwargs) -> Path:
    out = tmp_path / "run.h5"
    interrupt_at(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        experiment.train(spec, out=out, progress=False, **kwargs)
    monkeypatch.undo()
    assert read_run(out).status == "running" and read_run(out).iteration == 2
    return out


def test_a_resume_refuses_an_edited_profile_file_and_force_starts_over(tmp_path, monkeypatch):
    profile = tmp_path / "mychip.toml"
    text = (ROOT / "hardware_profiles" / "loihi2.toml").read_text()
    profile.write_text(text)
    spec = small("models/eprop_sine_chip.toml", **{"hardware.profile": str(profile)})
    out = _interrupted(tmp_path, monkeypatch, spec)
    profile.write_text(text.replace("weight_bits = { value = 8", "weight_bits = { value = 3"))
    assert "value = 3" in profile.read_text()
    with pytest.raises(ConfigError, match=r"profile file .*mychip.toml changed"):
        experiment.train(spec, out=out, progress=False)
    assert read_run(out).iteration == 2  # the old file intact
    fresh = experiment.train(spec, out=out, progress=False, force=True)
    assert fresh.resumed_from == 0 and read_run(out).status == "complete"


def test_a_resume_refuses_another_backend(tmp_path, monkeypatch):
    spec = small()
    out = _interrupted(tmp_path, monkeypatch, spec)
    with pytest.raises(ConfigError, match="backend changed from torch to brian2"):
        experiment.train(spec, out=out, progress=False, backend="brian2")


def test_a_resume_refuses_another_package_version(tmp_path, monkeypatch):
    spec = small()
    out = _interrupted(tmp_path, monkeypatch, spec)
    import neuromorph.resume as resume

    real = resume.package_versions()
    monkeypatch.setattr(resume, "package_versions", lambda: {**real, "torch": real["torch"] + ".other"})
    with pytest.raises(ConfigError, match="torch changed from"):
        experiment.train(spec, out=out, progress=False)


def _damage(path: Path, edit) -> None:
    with h5py.File(path, "r+") as f:
        edit(f)


@pytest.mark.parametrize("damage,needle", [
    (lambda f: f.__delitem__("params/w_in"), "/params/w_in is missing"),
    (lambda f: (f.__delitem__("params/w_rec"), f["params"].create_dataset("w_rec", data=np.zeros((3, 3)))),
     "/params/w_rec has shape (3, 3), expected (12, 12)"),
])
def test_a_damaged_run_file_is_refused_on_resume_naming_what_is_wrong(damage, needle, tmp_path, monkeypatch, capsys):
    spec = small()
    out = _interrupted(tmp_path, monkeypatch, spec)
    _damage(out, damage)
    with pytest.raises(StorageError) as info:
        experiment.train(spec, out=out, progress=False)
    assert needle in str(info.value) and str(out) in str(info.value) and "--force" in str(info.value)


def test_a_corrupt_checkpoint_is_a_storage_error(tmp_path, monkeypatch):
    """The checkpoint's named datasets: one of a foreign kind, one missing (and an earlier version's torch blob
    that does not unpickle): each a StorageError that names what is wrong."""
    spec = small()
    out = _interrupted(tmp_path, monkeypatch, spec)
    pristine = out.read_bytes()

    def foreign(f):
        f["checkpoint/state/iteration"].attrs["kind"] = "pickle"

    _damage(out, foreign)
    with pytest.raises(StorageError, match=r"/checkpoint/state/iteration is not part of a neuromorph checkpoint"):
        experiment.train(spec, out=out, progress=False)
    out.write_bytes(pristine)
    _damage(out, lambda f: f.__delitem__("checkpoint/state/learner"))
    with pytest.raises(StorageError, match=r"/checkpoint/state lacks learner"):
        experiment.train(spec, out=out, progress=False)

    def legacy_blob(f):
        del f["checkpoint/state"]
        f["checkpoint"].create_dataset("blob", data=np.full(300, 7, dtype=np.uint8))

    out.write_bytes(pristine)
    _damage(out, legacy_blob)
    with pytest.raises(StorageError, match=r"/checkpoint/blob is corrupt"):
        experiment.train(spec, out=out, progress=False)


def test_a_checkpoint_is_named_datasets_that_round_trip_exactly(tmp_path, monkeypatch):
    """No pickle: the resume state is HDF5 groups and datasets (parameters, AdamW moments, generator states)
    readable with h5py, and reading it back gives the state written, bit for bit."""
    from neuromorph.storage import read_run

    spec = small()
    out = _interrupted(tmp_path, monkeypatch, spec)
    with h5py.File(out, "r") as f:
        assert "checkpoint/blob" not in f
        assert f["checkpoint/state/params/w_rec"].attrs["kind"] == "tensor"
        assert f["checkpoint/state/learner/optimizer/state"].attrs["kind"] == "dict"
        w_rec = np.asarray(f["checkpoint/state/params/w_rec"][()])
    state = read_run(out, with_checkpoint=True).checkpoint
    assert isinstance(state["params"]["w_rec"], torch.Tensor)
    assert np.array_equal(state["params"]["w_rec"].numpy(), w_rec)
    groups = state["learner"]["optimizer"]["param_groups"]
    assert isinstance(groups[0]["betas"], tuple) and isinstance(groups[0]["params"][0], int)
    assert all(isinstance(k, int) for k in state["learner"]["optimizer"]["state"])


def test_export_of_a_damaged_run_is_one_line(tmp_path, capsys):
    run = tmp_path / "run.h5"
    experiment.train(small(**{"train.iterations": 2}), out=run, progress=False)
    _damage(run, lambda f: f.__delitem__("params/w_in"))
    one_line_error(capsys, ["export", str(run), "--nir", str(tmp_path / "n.nir")], str(run), "/params/w_in")
    assert not (tmp_path / "n.nir").exists()

    def not_toml(f):
        del f["config"]
        f.create_dataset("config", data="this is [ not toml", dtype=h5py.string_dtype("utf-8"))

    experiment.train(small(**{"train.iterations": 2}), out=run, progress=False, force=True)
    _damage(run, not_toml)
    one_line_error(capsys, ["export", str(run), "--nir", str(tmp_path / "n.nir")], str(run), "/config")


def test_ctrl_c_during_an_iteration_stops_after_it_with_a_resumable_file(tmp_path, monkeypatch):
    """A real SIGINT (not a raised KeyboardInterrupt) in iteration 3 is honoured once that iteration
    is done: the file then holds iteration 4 (not a checkpoint iteration) and resumes to the same result."""
    import os
    import signal

    spec = small()
    reference = experiment.train(spec, progress=False)
    real = experiment._iteration

    def sigint_in_3(spec, run):
        if run.iteration == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return real(spec, run)

    monkeypatch.setattr(experiment, "_iteration", sigint_in_3)
    out = tmp_path / "run.h5"
    # Python's own handler, as in `neuromorph train` (an earlier test's library may have replaced it)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            experiment.train(spec, out=out, progress=False)
    finally:
        signal.signal(signal.SIGINT, previous)
    monkeypatch.undo()
    assert read_run(out).status == "running" and read_run(out).iteration == 4
    resumed = experiment.train(spec, out=out, progress=False)
    assert resumed.resumed_from == 4
    np.testing.assert_array_equal(resumed.curves["loss"], reference.curves["loss"])
    for a, b in zip(resumed.params, reference.params):
        assert torch.equal(a, b)
