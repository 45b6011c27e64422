"""Training runs end to end: storage, NaN handling, resume, and the flagship card."""

from pathlib import Path

import numpy as np
import pytest
import torch

from neuromorph import experiment
from neuromorph.cli import main
from neuromorph.config import resolve
from neuromorph.errors import NonFiniteError
from neuromorph.storage import read_run

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "task": {"name": "sine", "n_in": 20, "n_steps": 120, "seed": 1},
    "network": {"n_rec": 20, "neuron": {"model": "alif", "n_adaptive": 10, "tau_mem": 0.03, "v_th": 0.03,
                                         "input_scaling": True, "beta": 0.01},
                "readout": {"tau_out": 0.03, "output_scaling": True}},
    "rule": {"name": "eprop", "feedback": "adaptive", "targets": ["w_in", "w_rec", "w_out", "bias", "b_out"],
             "regularization": {"strength": 10.0}},
    "optimizer": {"name": "adam", "lr": 0.01},
    "train": {"iterations": 6, "batch_size": 2, "checkpoint_every": 2},
}
from tests.helpers import interrupt_at


def tiny(**train):
    card = {k: dict(v) for k, v in TINY.items()}
    card["train"] = {**card["train"], **train}
    return resolve(card, "tiny")


def test_run_file_holds_config_curves_params_and_rule_state(tmp_path):
    out = tmp_path / "run.h5"
    result = experiment.train(tiny(), out=out, progress=False)
    record = read_run(out)
    assert record.status == "complete" and record.iteration == 6
    np.testing.assert_array_equal(record.curves["loss"], result.curves["loss"])
    assert record.curves["loss"].shape == (6,)
    np.testing.assert_array_equal(record.params["w_rec"], result.params.w_rec.numpy())
    assert np.all(np.diag(record.params["w_rec"]) == 0), "self-connections must stay zero"
    assert record.last["spikes"].shape == (120, 2, 20) and record.last["spikes"].dtype == np.uint8
    assert set(record.rule_state) >= {"pre_trace_in", "post_term", "learning_signal"}
    assert resolve(__import__("tomllib").loads(record.config_toml)) == tiny()


def test_adaptive_feedback_tracks_the_readout_update():
    spec = tiny(iterations=3)
    result = experiment.train(spec, progress=False)
    _, feedback0 = experiment.init_parameters(spec.network, spec.init, torch.Generator().manual_seed(0), torch.float32)
    w_out0 = experiment.init_parameters(spec.network, spec.init, torch.Generator().manual_seed(0), torch.float32)[0].w_out
    torch.testing.assert_close(result.feedback - feedback0, (result.params.w_out - w_out0).T, rtol=0, atol=1e-6)


@pytest.mark.parametrize("backend", ["torch", "brian2"])
def test_interrupted_run_resumes_to_the_same_result(tmp_path, monkeypatch, backend):
    reference = experiment.train(tiny(), progress=False, backend=backend)
    out = tmp_path / "run.h5"
    interrupt_at(monkeypatch, 5)
    with pytest.raises(KeyboardInterrupt):
        experiment.train(tiny(), out=out, progress=False, backend=backend)
    assert read_run(out).status == "running" and read_run(out).iteration == 4
    monkeypatch.undo()
    resumed = experiment.train(tiny(), out=out, progress=False, backend=backend)
    assert resumed.resumed_from == 4
    np.testing.assert_array_equal(resumed.curves["loss"], reference.curves["loss"])
    for a, b in zip(resumed.params, reference.params):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert read_run(out).status == "complete"


def test_nan_in_given_parameters_is_rejected_before_training(tmp_path):
    out = tmp_path / "run.h5"
    params, _ = experiment.init_parameters(tiny().network, tiny().init, torch.Generator().manual_seed(0))
    with pytest.raises(NonFiniteError, match="bias contains NaN or Inf"):
        experiment.train(tiny(), out=out, progress=False, params=params._replace(bias=torch.full((20,), float("nan"))))
    assert not out.exists()


def test_nan_during_training_marks_the_file_failed(tmp_path):
    out = tmp_path / "run.h5"
    spec = resolve({**TINY, "optimizer": {"name": "sgd", "lr": 1e30}, "train": {**TINY["train"], "iterations": 50}}, "huge-lr")
    with pytest.raises(NonFiniteError) as info:
        experiment.train(spec, out=out, progress=False)
    record = read_run(out)
    assert record.status == "failed" and record.error == str(info.value)
    assert all(np.isfinite(v).all() for v in record.params.values()), "the file keeps the last good parameters"


def test_flagship_card_halves_the_loss_via_the_cli(tmp_path):
    """models/eprop_sine.toml, shortened to 40 iterations (the full card runs 300)."""
    out = tmp_path / "sine.h5"
    assert main(["train", str(ROOT / "models/eprop_sine.toml"), "--out", str(out), "--iterations", "40", "--no-progress"]) == 0
    loss = read_run(out).curves["loss"]
    assert loss.shape == (40,) and loss[-1] <= 0.5 * loss[0], loss
    assert main(["plot", str(out)]) == 0
    for name in ("curve", "raster", "output", "rule_state"):
        assert (tmp_path / f"sine_{name}.png").stat().st_size > 1000


def test_every_dataset_of_a_run_file_names_its_axes_and_units(tmp_path):
    """Self-describing: each dataset has one dimension name per axis, units and a description; the loss states its
    definition (the loss kind's formula) and the rule state the trial it holds (neuromorph/storage/layout.py)."""
    import h5py

    from neuromorph.storage.layout import LOSS_DEFINITIONS

    out = tmp_path / "run.h5"
    experiment.train(tiny(), out=out, progress=False)
    seen = []
    with h5py.File(out, "r") as f:
        for group in ("curves", "params", "last", "rule_state"):
            assert f[group].attrs["description"]
            for name, ds in f[group].items():
                dims = [str(d) for d in ds.attrs["dims"]]
                assert len(dims) == ds.ndim and all(dims), (group, name, dims)
                assert ds.attrs["units"] and ds.attrs["description"], (group, name)
                assert not any(d.startswith("axis") for d in dims), f"{group}/{name} is not in the layout table"
                seen.append(f"{group}/{name}")
        assert f["curves/loss"].attrs["definition"] == LOSS_DEFINITIONS["regression"]
        assert int(f["rule_state"].attrs["trial"]) == 0
        assert {"torch", "numba", "h5py"} <= set(f["versions"].attrs)
        assert list(f["last/spikes"].attrs["dims"]) == ["time", "trial", "neuron"]
        assert f["curves/rate_hz"].attrs["units"] == "Hz"
    assert {"curves/loss", "params/w_rec", "last/spikes", "rule_state/post_term"} <= set(seen)
