"""brian2 code-generation targets, a quantised profile, the training entry point and setup errors.

Oracles: the torch backend for the compiled targets (identical spikes, updates to 1e-10), and
for the chip profile the exact integers of the torch backend's loihi2 arithmetic (integer
membrane with Loihi's multiply-shift decay, 7-bit traces, weights on 8-bit grids written with
stochastic rounding from the same generator).
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from neuromorph import experiment
from neuromorph.backends.brian2 import Brian2Backend, UnsupportedFeatureError
from neuromorph.backends.torch import lower
from neuromorph.cli import main
from neuromorph.config import load_card
from neuromorph.plasticity import EProp, Feedback, Mode, Target
from neuromorph.types import LossKind
from tests.brian2.test_cross_backend import assert_same, problem, spec_of, train_both

CHIP = {"network.n_rec": 20, "task.n_in": 10, "task.n_steps": 200, "train.iterations": 3,
        "train.precision": "float64", "hardware.profile": "loihi2",
        # the brian2 backend rounds traces to nearest (the torch backend alone draws stochastic trace rounding)
        "hardware.override": {"traces.pre.rounding": "nearest", "traces.post.rounding": "nearest"}}


# cython compiles a dozen code objects on a cold cache (about 2 min); C++ (cpp_standalone) is the default's check
@pytest.mark.parametrize("target", ["cpp_standalone", pytest.param("cython", marks=pytest.mark.slow)])
def test_compiled_targets_match_torch(target, tmp_path):
    """One build (cpp_standalone: each sequence is one run of the binary, weights and trials as run_args)."""
    spec = spec_of(True)
    params, feedback, batches = problem(spec, LossKind.REGRESSION, seed=5)
    rule = EProp(feedback=Feedback.RANDOM, mode=Mode.FACTORED, targets=frozenset(Target))
    backend = Brian2Backend(target, directory=tmp_path / "standalone")
    try:
        runs = train_both(spec, rule, LossKind.REGRESSION, params, feedback, batches, backend)
        plain = backend.train_sequence(lower(spec, torch.float64), params, feedback, rule, LossKind.REGRESSION,
                                       batches[0], lambda g: None, record=False)  # as between checkpoints
        assert plain.z is None and plain.rule_state == {}
        assert backend._builds == 1, "a training run must build (and compile) once, recorded or not"
    finally:
        backend.close()
    assert_same(runs)


def test_quantised_profile_gives_identical_integers():
    """loihi2 on chip: integer membrane, integer traces, weights on their grids; same integers in both backends."""
    spec = load_card("models/eprop_sine_chip.toml", CHIP)
    runs = {b: experiment.train(spec, progress=False, backend=b) for b in ("torch", "brian2")}
    torch_run, brian_run = runs["torch"], runs["brian2"]
    np.testing.assert_array_equal(brian_run.curves["spike_count"], torch_run.curves["spike_count"])
    np.testing.assert_allclose(brian_run.curves["loss"], torch_run.curves["loss"], rtol=1e-10)
    grids = torch_run.hardware.numerics.grids.steps
    assert set(grids) >= {"w_in", "w_rec", "w_out"}
    for name, step in grids.items():
        k_torch, k_brian = getattr(torch_run.params, name) / step, getattr(brian_run.params, name) / step
        assert float((k_torch - k_torch.round()).abs().max()) < 1e-9, f"{name} left its grid"
        assert torch.equal(k_brian.round(), k_torch.round()), f"{name}: the integers differ between the backends"
    moved = (torch_run.params.w_in / grids["w_in"]).round() != (experiment.train(
        load_card("models/eprop_sine_chip.toml", {**CHIP, "train.iterations": 1}), progress=False).params.w_in
        / grids["w_in"]).round()
    assert moved.any(), "training changed no integer weight; the comparison would prove little"


def test_cli_trains_with_brian2_and_writes_the_torch_layout(tmp_path, capsys):
    card = "models/eprop_sine.toml"
    sets = ["--set", "network.n_rec=20", "--set", "task.n_steps=100", "--iterations", "2", "--no-progress"]
    assert main(["train", card, "--out", str(tmp_path / "t.h5"), *sets]) == 0
    assert main(["train", card, "--out", str(tmp_path / "b.h5"), "--backend", "brian2", *sets]) == 0
    with h5py.File(tmp_path / "t.h5") as ft, h5py.File(tmp_path / "b.h5") as fb:
        def keys(f):
            out = []
            f.visit(out.append)
            return sorted(out)
        assert keys(fb) == keys(ft)
        assert fb["attrs"].attrs["backend"] == "brian2" and fb["attrs"].attrs["brian2_target"] == "numpy"
        assert ft["attrs"].attrs["backend"] == "torch"
        np.testing.assert_array_equal(fb["last/spikes"][:], ft["last/spikes"][:])
        np.testing.assert_allclose(fb["curves/loss"][:], ft["curves/loss"][:], rtol=1e-4)  # torch runs float32 here


@pytest.mark.parametrize("card, overrides, needle", [
    ("models/bptt_sine.toml", {}, "'bptt' rule"),
    ("models/eprop_sine_chip.toml", {"hardware.profile": "loihi2"}, "stochastic rounding of traces"),
])
def test_unsupported_features_fail_at_setup(card, overrides, needle):
    spec = load_card(card, {"train.iterations": 1, **overrides})
    with pytest.raises(UnsupportedFeatureError, match=needle):
        experiment.train(spec, progress=False, backend="brian2")


def test_linear_rate_card_trains_identically():
    """The linear-rate mode (linear_rflo.toml: RFLO, batch 64, loss at the final step) in both backends, float64."""
    spec = load_card("models/linear_rflo.toml", {"train.iterations": 5})
    runs = {b: experiment.train(spec, progress=False, backend=b) for b in ("torch", "brian2")}
    np.testing.assert_allclose(runs["brian2"].curves["loss"], runs["torch"].curves["loss"], rtol=1e-10)
    assert runs["torch"].curves["loss"][-1] < runs["torch"].curves["loss"][0]
    for name in ("w_in", "w_rec", "w_out"):
        torch.testing.assert_close(getattr(runs["brian2"].params, name), getattr(runs["torch"].params, name),
                                   rtol=1e-10, atol=1e-13)


def test_standalone_rejects_updates_inside_a_sequence():
    spec = load_card("models/eprop_sine_chip.toml", {**CHIP, "train.iterations": 1})
    with pytest.raises(UnsupportedFeatureError, match="use --target numpy or cython"):
        experiment.train(spec, progress=False, backend="brian2", target="cpp_standalone")


def test_cli_error_is_one_line(tmp_path, capsys):
    code = main(["train", "models/bptt_sine.toml", "--out", str(tmp_path / "x.h5"), "--backend", "brian2",
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "brian2 backend does not support" in err
