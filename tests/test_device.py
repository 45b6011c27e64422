"""``train.device``: the card's check, the engine each device runs, and a time loop free of host synchronisation.

The GPU tests run where torch sees a CUDA device; the rest run anywhere. A synchronisation per step (``.item()``,
``float(t)``, ``if t``) is caught on the CPU too: the count of those calls in one ``train_sequence`` must not grow
with the number of steps.
"""

from __future__ import annotations

import contextlib
import dataclasses

import pytest
import torch

from neuromorph.backends.base import lower, resolve_engine
from neuromorph.backends.torch import train_sequence
from neuromorph.config import TrainSpec, check_device, load_card
from neuromorph.dynamics import RateParameters, ReadoutParameters
from neuromorph.engine import Session
from neuromorph.errors import ConfigError, NonFiniteError
from neuromorph.network import NetworkSpec
from neuromorph.plasticity import BPTT, RFLO, EProp, Learner, Mode, OptimizerName, OptimizerSpec, RewardEProp, Target
from neuromorph.plasticity.losses import RateRegularization
from neuromorph.types import LossKind, TrialBatch
from tests.helpers import random_problem, small_spec

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
FLAGSHIP = "models/eprop_sine.toml"


# ------------------------------------------------------------------------------------------------ the card's check


@pytest.mark.parametrize("device", ["gpu", "CUDA", "cuda:", "cuda:x", "cpu:0", "mps", ""])
def test_an_unknown_device_string_is_refused_with_the_valid_forms(device):
    with pytest.raises(ConfigError, match=r'train.device must be one of "cpu", "cuda", "cuda:N"'):
        TrainSpec(device=device)


def test_a_non_string_device_in_a_card_is_refused():
    with pytest.raises(ConfigError, match=r"device must be str"):
        load_card(FLAGSHIP, {"train.device": 0})


@pytest.mark.skipif(CUDA, reason="checks the message where torch sees no CUDA device")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_a_visible_device_is_refused_in_one_line(device):
    with pytest.raises(ConfigError) as info:
        load_card(FLAGSHIP, {"train.device": device})
    message = str(info.value)
    assert "\n" not in message
    assert "no CUDA device is visible to torch" in message and 'device = "cpu"' in message
    assert "CUDA build of torch" in message


def test_the_cpu_is_the_default_and_is_stored_in_the_resolved_card():
    from neuromorph.config import resolve, resolved_card

    spec = load_card(FLAGSHIP, {"train.iterations": 2})
    assert spec.train.device == "cpu"
    card = resolved_card(spec)
    assert card["train"]["device"] == "cpu"
    assert resolve(card).train == spec.train


@pytest.fixture
def fake_cuda(monkeypatch):
    """torch reports two CUDA devices (the checks only; nothing is put on them)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_cuda_is_accepted_where_torch_sees_a_device(fake_cuda):
    for device in ("cuda", "cuda:0", "cuda:1"):
        assert check_device(device) == device
        assert TrainSpec(device=device).device == device
    with pytest.raises(ConfigError, match=r"torch sees 2 CUDA device\(s\) \(cuda:0 to cuda:1\)"):
        TrainSpec(device="cuda:2")


def test_on_cuda_the_default_engine_is_torch_and_compiled_is_refused(fake_cuda):
    spec = load_card(FLAGSHIP, {"train.device": "cuda", "train.engine": "torch"})
    assert spec.train.engine == "torch"
    card = {"task": {"name": "sine"}, "train": {"device": "cuda:1"}}
    from neuromorph.config import resolve

    assert resolve(card, check_memory_on_load=False).train.engine == "torch"  # no engine named: torch on cuda
    with pytest.raises(ConfigError) as info:
        load_card(FLAGSHIP, {"train.device": "cuda"})  # the flagship names engine = "compiled"
    assert "\n" not in str(info.value) and 'engine = "torch"' in str(info.value)


def test_resolve_engine_is_the_one_rule():
    assert resolve_engine(None, "cpu") == "compiled"  # the CPU default: numba loops where a kernel exists
    assert resolve_engine("compiled", "cpu") == "compiled"
    assert resolve_engine(None, "cuda") == "torch"
    assert resolve_engine("torch", "cuda:0") == "torch"
    with pytest.raises(ConfigError, match='set engine = "torch"'):
        resolve_engine("compiled", "cuda")
    with pytest.raises(ConfigError, match="train.engine must be one of"):
        resolve_engine("numba", "cpu")
    with pytest.raises(ConfigError, match='set engine = "torch"'):
        lower(small_spec(False), torch.float64, engine="compiled", device="cuda")  # the Python API: the same rule


def test_a_hardware_profile_on_cuda_is_refused(fake_cuda):
    with pytest.raises(ConfigError, match=r"\[hardware\] runs a chip's arithmetic on the CPU only"):
        load_card("models/eprop_sine_chip.toml", {"train.device": "cuda", "hardware.profile": "loihi2"})


def test_brian2_with_a_cuda_device_is_refused(fake_cuda):
    from neuromorph.experiment import train

    spec = load_card(FLAGSHIP, {"train.device": "cuda", "train.engine": "torch", "train.iterations": 1})
    with pytest.raises(ConfigError, match="the brian2 backend simulates on the CPU"):
        train(spec, backend="brian2", progress=False)


# ------------------------------------------------------------------------------- no synchronisation per time step

SYNCS = ("item", "__bool__", "__float__", "__int__", "__index__", "tolist", "numpy", "cpu")


@contextlib.contextmanager
def counting_syncs(monkeypatch):
    """Count the calls that read a tensor's value on the host (each one a synchronisation on a GPU)."""
    counts = dict.fromkeys(SYNCS, 0)
    with monkeypatch.context() as m:
        for name in SYNCS:
            original = getattr(torch.Tensor, name)

            def counted(self, *args, __name=name, __original=original, **kwargs):
                counts[__name] += 1
                return __original(self, *args, **kwargs)

            m.setattr(torch.Tensor, name, counted)
        yield counts


def _sequence_syncs(monkeypatch, spec, rule, n_steps, kind=LossKind.REGRESSION, deferred=None, optimizer="adam"):
    params, feedback, batch = random_problem(spec, kind, n_steps=n_steps, batch=2)
    session = Session.create(spec, rule, kind, OptimizerSpec(OptimizerName(optimizer), lr=1e-3), params, feedback,
                             dtype=torch.float64)
    if deferred is not None:
        session.learner = Learner(session.learner.spec, session.params, rule.targets, deferred=deferred)
    gen = torch.Generator().manual_seed(1)
    with counting_syncs(monkeypatch) as counts:
        session.step(batch, generator=gen)
    return sum(counts.values()), counts


CASES = {
    "eprop-online": (small_spec(False), EProp(mode=Mode.ONLINE, regularization=RateRegularization(1.0, 10.0))),
    "eprop-online-alif": (small_spec(True), EProp(mode=Mode.ONLINE, targets=frozenset(Target))),
    "eprop-online-window": (small_spec(False), EProp(mode=Mode.ONLINE, update_interval=5)),
    "eprop-factored-torch": (small_spec(True), EProp(mode=Mode.FACTORED, regularization=RateRegularization(1.0))),
    "rflo-online-jacobian": (small_spec(False), RFLO(mode=Mode.ONLINE, decay="jacobian")),
    "rflo-factored-leak": (small_spec(False), RFLO(mode=Mode.FACTORED, decay="leak")),
    "bptt": (small_spec(True), BPTT(regularization=RateRegularization(1.0))),
    "bptt-truncated": (small_spec(False), BPTT(truncation=7)),
    "rate-eprop-online": (NetworkSpec(4, 6, 2, RateParameters(tau=5e-3), ReadoutParameters(tau_out=0.0)),
                          EProp(mode=Mode.ONLINE, targets=frozenset({Target.W_IN, Target.W_REC, Target.BIAS}))),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_sequence_reads_the_device_a_fixed_number_of_times(monkeypatch, case):
    """20 steps and 50 steps read tensor values on the host equally often: none of the reads is per step.

    The learner checks on the device here (``deferred``, the default off the CPU), so an update window of 5
    steps (``eprop-online-window``) adds no read per update either."""
    spec, rule = CASES[case]
    # Adam's step count is a host number (torch keeps it on the CPU, not capturable): reading it per update is no
    # device synchronisation, but this counter cannot tell, so the windowed case runs plain SGD
    optimizer = "sgd" if rule.update_interval else "adam"
    short, counts_short = _sequence_syncs(monkeypatch, spec, rule, 20, deferred=True, optimizer=optimizer)
    long, counts_long = _sequence_syncs(monkeypatch, spec, rule, 50, deferred=True, optimizer=optimizer)
    assert long == short, f"reads grow with T: {counts_short} at T = 20, {counts_long} at T = 50"


def test_reward_eprop_reads_the_device_a_fixed_number_of_times(monkeypatch):
    spec = dataclasses.replace(small_spec(False), n_out=3)
    rule = RewardEProp()
    short, _ = _sequence_syncs(monkeypatch, spec, rule, 20, kind=LossKind.CLASSIFICATION, deferred=True)
    long, _ = _sequence_syncs(monkeypatch, spec, rule, 50, kind=LossKind.CLASSIFICATION, deferred=True)
    assert long == short


def test_simulate_reads_the_device_a_fixed_number_of_times(monkeypatch):
    from neuromorph.backends.torch import simulate

    spec = small_spec(True)
    low = lower(spec, torch.float64, engine="torch")
    counts = []
    for n_steps in (20, 50):
        params, _, batch = random_problem(spec, LossKind.REGRESSION, n_steps=n_steps, batch=2)
        with counting_syncs(monkeypatch) as c:
            simulate(low, params, batch.inputs)
        counts.append(sum(c.values()))
    assert counts[0] == counts[1]


def test_the_counter_sees_a_per_step_read(monkeypatch):
    """The check itself: the CPU learner checks every update on the host, so 5-step windows add reads with T."""
    spec, rule = CASES["eprop-online-window"]
    short, _ = _sequence_syncs(monkeypatch, spec, rule, 20, deferred=False, optimizer="sgd")
    long, _ = _sequence_syncs(monkeypatch, spec, rule, 50, deferred=False, optimizer="sgd")
    assert long > short


# ------------------------------------------------------------------- the learner's checks on the device (deferred)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_a_deferred_learner_equals_the_host_checked_one(name):
    def run(deferred):
        w = torch.nn.Parameter(torch.linspace(-1, 1, 6, dtype=torch.float64).view(2, 3))
        learner = Learner(OptimizerSpec(OptimizerName(name), lr=0.1, weight_decay=0.01), {Target.W_OUT: w},
                          frozenset({Target.W_OUT}), deferred=deferred)
        for k in range(4):
            learner.apply({Target.W_OUT: torch.full((2, 3), 0.5 * k - 1, dtype=torch.float64)})
        learner.check()
        return w.detach().clone(), learner.state_dict()

    (w_host, s_host), (w_dev, s_dev) = run(False), run(True)
    assert torch.equal(w_host, w_dev)
    assert s_host["updates"] == s_dev["updates"] == 4


@pytest.mark.parametrize("name", ["sgd", "adam"])
@pytest.mark.parametrize("first", [True, False])
def test_a_deferred_learner_refuses_at_check_with_the_last_good_state(name, first):
    w = torch.nn.Parameter(torch.ones(1, 2))
    learner = Learner(OptimizerSpec(OptimizerName(name), lr=1e-3), {Target.W_OUT: w}, frozenset({Target.W_OUT}),
                      deferred=True)
    if not first:
        learner.apply({Target.W_OUT: torch.ones(1, 2)})
        learner.check()
    good_w, good_state = w.detach().clone(), learner.state_dict()
    learner.apply({Target.W_OUT: torch.tensor([[float("nan"), 1.0]])})  # refused
    learner.apply({Target.W_OUT: torch.ones(1, 2)})  # after a refusal, nothing more is applied in the sequence
    with pytest.raises(NonFiniteError, match=f"at update {0 if first else 1}"):
        learner.check()
    assert torch.equal(w.detach(), good_w)
    state = learner.state_dict()
    assert state["updates"] == good_state["updates"]
    after, before = state["optimizer"]["state"], good_state["optimizer"]["state"]
    assert after.keys() == before.keys()
    for key in after:
        for k, v in after[key].items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(before[key][k])), k
    learner.check()  # the refusal was reported once


def test_a_session_raises_a_deferred_refusal_at_the_end_of_its_sequence():
    spec = small_spec(False)
    params, feedback, batch = random_problem(spec, LossKind.REGRESSION, n_steps=20, batch=2)
    session = Session.create(spec, EProp(mode=Mode.ONLINE, update_interval=5), LossKind.REGRESSION,
                             OptimizerSpec(OptimizerName.SGD, lr=1e300), params, feedback, dtype=torch.float64)
    session.learner.deferred = True
    with pytest.raises(NonFiniteError):
        session.step(batch)
    assert all(torch.isfinite(p).all() for p in session.params.values())  # the last good update's values


# ------------------------------------------------------------------------------------------------------ on a GPU


def _short_flagship(device: str, precision: str = "float64", iterations: int = 3):
    return load_card(FLAGSHIP, {"train.device": device, "train.engine": "torch", "train.precision": precision,
                                "train.iterations": iterations, "task.n_steps": 200})


@needs_cuda
def test_the_flagship_trains_on_cuda_as_on_the_cpu():
    from neuromorph.experiment import train

    cpu = train(_short_flagship("cpu"), progress=False)
    gpu = train(_short_flagship("cuda"), progress=False)
    assert gpu.params.w_rec.device.type == "cuda"
    torch.testing.assert_close(torch.as_tensor(gpu.curves["loss"]), torch.as_tensor(cpu.curves["loss"]),
                               rtol=1e-10, atol=1e-10)
    for name in ("w_in", "w_rec", "w_out"):
        torch.testing.assert_close(getattr(gpu.params, name).cpu(), getattr(cpu.params, name), rtol=1e-9, atol=1e-10)


@needs_cuda
def test_a_cuda_run_file_holds_cpu_arrays_and_resumes(tmp_path):
    from neuromorph.experiment import train
    from neuromorph.storage import read_run

    out = tmp_path / "run.h5"
    spec = _short_flagship("cuda", iterations=2)
    train(spec, out=out, progress=False)
    record = read_run(out, with_checkpoint=True)
    assert record.status == "complete" and record.params["w_rec"].shape == (100, 100)
    again = train(spec, out=out, progress=False)  # a finished run is returned as is
    assert again.resumed_from == 2


GPU_RULES = {
    "eprop-online": (small_spec(True), EProp(mode=Mode.ONLINE, update_interval=5)),
    "eprop-factored": (small_spec(True), EProp(mode=Mode.FACTORED, regularization=RateRegularization(1.0))),
    "rflo-online": (small_spec(False), RFLO(mode=Mode.ONLINE, decay="jacobian")),
    "rflo-factored": (small_spec(False), RFLO(mode=Mode.FACTORED, decay=0.9)),
    "bptt": (small_spec(True), BPTT(truncation=10)),
}


def _cuda_syncs(session, batch) -> int:
    """Synchronisations of one training sequence on the device (sync-debug mode "warn" names each one)."""
    import warnings

    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            session.step(batch)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


@needs_cuda
@pytest.mark.parametrize("case", sorted(GPU_RULES))
def test_a_cuda_sequence_synchronises_only_at_its_end_and_equals_the_cpu(case):
    """The time loop runs without a synchronisation: 20 and 60 steps synchronise equally often (the loss and
    spike count as floats, the learner's one check), and the update is the CPU's to float64 rounding."""
    spec, rule = GPU_RULES[case]
    syncs, after = {}, {}
    for n_steps in (20, 60):
        params, feedback, batch = random_problem(spec, LossKind.REGRESSION, n_steps=n_steps, batch=2)
        for device in ("cpu", "cuda"):
            session = Session.create(spec, rule, LossKind.REGRESSION, OptimizerSpec(lr=1e-3), params, feedback,
                                     dtype=torch.float64, engine="torch", device=device)
            on = batch.to(device=device)
            if device == "cuda":
                session.step(on)  # warm-up: kernels, allocations and the optimiser's state
                syncs[n_steps] = _cuda_syncs(session, on)
            else:
                session.step(on)
                session.step(on)
            after[device] = {t: p.detach().cpu() for t, p in session.params.items()}
        for t, p in after["cpu"].items():
            torch.testing.assert_close(after["cuda"][t], p, rtol=1e-10, atol=1e-12)
    assert syncs[60] == syncs[20] <= 4, syncs
