"""The linear-rate mode trained through the rule interface equals the theory's algorithms.

Oracles (float64): the hand-written numpy algorithms of :mod:`neuromorph.theory.population`
(themselves checked against the Stein closed forms in tests/theory/test_theory_population.py), torch
autograd, and the online/factored pair. All on non-aligned random networks, on the exact-expectation
impulse basis, with the loss at the final step (the theory's setting) or at every step.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuromorph.backends.torch import differentiable_run, lower, train_sequence
from neuromorph.dynamics import Activation, RateParameters, ReadoutParameters
from neuromorph.errors import ConfigError
from neuromorph.linear_rate import as_linear_rnn, as_parameters, feedback_tensor, linear_network_spec
from neuromorph.network import NetworkSpec
from neuromorph.plasticity import BPTT, RFLO, EProp, Feedback, Mode, Target
from neuromorph.plasticity.losses import loss_value
from neuromorph.theory import RFLOFeedback, Rule, algorithm_gradients, impulse_basis, random_linear_rnn, run_network
from neuromorph.types import LossKind, TrialBatch
from tests.helpers import max_rel_err

N, M, O, T = 5, 3, 2, 12
HIDDEN = frozenset({Target.W_IN, Target.W_REC, Target.W_OUT})


def _setup(seed=0):
    rng = np.random.default_rng(seed)
    student, teacher = random_linear_rnn(N, M, O, rng, radius=0.7), random_linear_rnn(N, M, O, rng, radius=0.8)
    A_hat = rng.standard_normal((O, N))
    return student, teacher, A_hat


def _impulse_batch(teacher, every_step=False) -> TrialBatch:
    """The T*m unit impulses as one batch, targets from the teacher, loss at the last step."""
    x = impulse_basis(T, M)  # (batch, T, m)
    h_star, _ = run_network(teacher, x)
    y_star = h_star[1:] @ teacher.A.T  # (T, batch, o): theory h_{t+1} is the package's h_t
    mask = np.ones((T, x.shape[0])) if every_step else np.eye(T)[-1][:, None].repeat(x.shape[0], 1)
    f = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64)
    return TrialBatch(f(np.swapaxes(x, 0, 1)), f(y_star), f(mask))


def _grads(rule, student, A_hat, batch, spec=None) -> dict[Target, torch.Tensor]:
    spec = spec or linear_network_spec(N, M, O)
    got = {}
    train_sequence(lower(spec, torch.float64), as_parameters(student), feedback_tensor(A_hat), rule,
                   LossKind.REGRESSION, batch, got.update)
    return {t: g * batch.batch_size for t, g in got.items()}  # the package averages over the batch


def _assert_matches(got, want, tol=1e-12):
    for target, attr in ((Target.W_OUT, "A"), (Target.W_IN, "B"), (Target.W_REC, "W")):
        assert max_rel_err(got[target], torch.as_tensor(getattr(want, attr))) < tol, target


@pytest.mark.parametrize("rule,theory_rule", [(BPTT(targets=HIDDEN), Rule.BPTT),
                                              (BPTT(truncation=1, targets=HIDDEN), Rule.TBPTT1)],
                         ids=["bptt", "tbptt1"])
def test_bptt_and_tbptt1_equal_the_theory_algorithms(rule, theory_rule):
    student, teacher, A_hat = _setup()
    got = _grads(rule, student, A_hat, _impulse_batch(teacher))
    _assert_matches(got, algorithm_gradients(theory_rule, student, teacher, impulse_basis(T, M)))


@pytest.mark.parametrize("mode", [Mode.FACTORED, Mode.ONLINE])
@pytest.mark.parametrize("decay", [0.0, 0.6, (0.1, -0.3, 0.5, 0.8, 0.0)], ids=["lambda0", "lambda.6", "per-neuron"])
def test_rflo_equals_the_theory_trace_algorithm(decay, mode):
    student, teacher, A_hat = _setup(1)
    got = _grads(RFLO(decay=decay, mode=mode, targets=HIDDEN), student, A_hat, _impulse_batch(teacher))
    want = algorithm_gradients(Rule.RFLO, student, teacher, impulse_basis(T, M),
                               RFLOFeedback(A_hat=A_hat, decay=np.asarray(decay, dtype=float)))
    _assert_matches(got, want)


def test_symmetric_eprop_with_jacobian_diagonal_is_bptt_for_diagonal_w():
    """docs/theory.md: with W diagonal in the neuron basis (P = I) symmetric e-prop is BPTT, every step."""
    student, teacher, A_hat = _setup(2)
    student = type(student)(A=student.A, B=student.B, W=np.diag([0.5, -0.3, 0.7, 0.1, -0.6]))
    batch = _impulse_batch(teacher, every_step=True)
    eprop = RFLO(feedback=Feedback.SYMMETRIC, decay="jacobian", targets=HIDDEN)
    got, want = _grads(eprop, student, A_hat, batch), _grads(BPTT(targets=HIDDEN), student, A_hat, batch)
    for target in HIDDEN:
        assert max_rel_err(got[target], want[target]) < 1e-12
    online = _grads(RFLO(feedback=Feedback.SYMMETRIC, decay="jacobian", mode=Mode.ONLINE, targets=HIDDEN),
                    student, A_hat, batch)
    for target in HIDDEN:
        assert max_rel_err(online[target], want[target]) < 1e-12
    full = as_parameters(_setup(3)[0])  # a full W: no longer BPTT
    got = {}
    train_sequence(lower(linear_network_spec(N, M, O), torch.float64), full, feedback_tensor(A_hat), eprop,
                   LossKind.REGRESSION, batch, got.update)
    oracle = {}
    train_sequence(lower(linear_network_spec(N, M, O), torch.float64), full, feedback_tensor(A_hat),
                   BPTT(targets=HIDDEN), LossKind.REGRESSION, batch, oracle.update)
    assert max_rel_err(got[Target.W_REC], oracle[Target.W_REC]) > 1e-3


def _leaky_tanh_problem(seed=4):
    spec = NetworkSpec(3, 6, 2, RateParameters(tau=0.1, activation=Activation.TANH), ReadoutParameters(tau_out=0.05),
                       dt=0.02)
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)
    from neuromorph.network import Parameters

    params = Parameters(w_in=r(6, 3), w_rec=1.5 * r(6, 6) / 6**0.5, w_out=r(2, 6) / 6**0.5, bias=0.1 * r(6),
                        b_out=0.1 * r(2), threshold=torch.zeros(6, dtype=torch.float64))
    batch = TrialBatch(r(25, 4, 3), r(25, 4, 2), (torch.rand(25, 4, generator=g) < 0.7).double())
    return spec, params, r(6, 2), batch


RATE_TARGETS = [t for t in Target if t is not Target.THRESHOLD]  # rate units have no threshold


@pytest.mark.parametrize("mode", [Mode.FACTORED, Mode.ONLINE])
def test_rate_eprop_is_autograd_through_detach_and_rflo_with_the_leak(mode):
    """Rate e-prop (docs/gain.md, "Rules") = autograd with the recurrent input detached; RFLO("leak") = e-prop."""
    spec, params, feedback, batch = _leaky_tanh_problem()
    low = lower(spec, torch.float64)
    leaves = type(params)(*(p.detach().clone().requires_grad_(True) for p in params))
    y, _ = differentiable_run(low, leaves, batch.inputs, stop_recurrent=True)
    oracle = dict(zip(RATE_TARGETS, torch.autograd.grad(loss_value(LossKind.REGRESSION, y, batch.targets, batch.mask),
                                                         [getattr(leaves, t.value) for t in RATE_TARGETS])))
    for rule in (EProp(feedback=Feedback.SYMMETRIC, mode=mode, targets=frozenset(RATE_TARGETS)),
                 RFLO(feedback=Feedback.SYMMETRIC, decay="leak", mode=mode, targets=frozenset(RATE_TARGETS))):
        got = {}
        train_sequence(low, params, feedback, rule, LossKind.REGRESSION, batch, got.update)
        for target in RATE_TARGETS:
            assert max_rel_err(got[target], oracle[target]) < 1e-12, (rule.name, target)


def test_online_rflo_with_update_interval_sums_to_the_sequence_update():
    spec, params, feedback, batch = _leaky_tanh_problem(5)
    low = lower(spec, torch.float64)
    whole, windows = {}, []
    train_sequence(low, params, feedback, RFLO(decay=0.4), LossKind.REGRESSION, batch, whole.update)
    train_sequence(low, params, feedback, RFLO(decay=0.4, mode=Mode.ONLINE, update_interval=7),
                   LossKind.REGRESSION, batch, windows.append)
    assert len(windows) == 4  # 25 steps: 7, 14, 21, 25
    for target in whole:
        assert max_rel_err(sum(w[target] for w in windows), whole[target]) < 1e-12


def test_linear_rnn_round_trip_and_simulation_matches_theory():
    student, teacher, _ = _setup(6)
    back = as_linear_rnn(as_parameters(student))
    for attr in ("A", "B", "W"):
        np.testing.assert_array_equal(getattr(back, attr), getattr(student, attr))
    batch = _impulse_batch(teacher)
    y, _ = differentiable_run(lower(linear_network_spec(N, M, O), torch.float64), as_parameters(teacher), batch.inputs)
    assert max_rel_err(y.detach(), batch.targets) < 1e-14


@pytest.mark.parametrize("make", [
    lambda: RateParameters(tau=0.0),
    lambda: RateParameters(activation="softplus"),
    lambda: NetworkSpec(2, 3, 1, RateParameters(tau=0.5e-3), dt=1e-3),
    lambda: RFLO(decay=1.0),
    lambda: RFLO(decay="murray"),
    lambda: RFLO(decay=(0.2, 1.5)),
    lambda: RFLO(update_interval=5),
])
def test_invalid_rate_and_rflo_settings_raise_config_error(make):
    with pytest.raises(ConfigError):
        make()


def test_rflo_rejects_alif_and_a_wrong_decay_length():
    from tests.helpers import random_problem, small_spec

    spec = small_spec(adaptive=True)
    params, feedback, batch = random_problem(spec, LossKind.REGRESSION)
    with pytest.raises(ConfigError, match="ALIF"):
        train_sequence(lower(spec, torch.float64), params, feedback, RFLO(), LossKind.REGRESSION, batch, lambda g: None)
    spec = small_spec(adaptive=False)
    with pytest.raises(ConfigError, match="one per neuron"):
        train_sequence(lower(spec, torch.float64), params, feedback, RFLO(decay=(0.1, 0.2)), LossKind.REGRESSION,
                       batch, lambda g: None)


def test_linear_teacher_task_and_card_train_end_to_end(tmp_path):
    """`neuromorph train models/linear_rflo.toml`: a linear-rate run stores rates (not spikes) and learns."""
    from pathlib import Path

    from neuromorph.cli import main
    from neuromorph.config import load_card
    from neuromorph.storage import read_run
    from neuromorph.tasks import LinearTeacherTask
    from neuromorph.theory import mode_values

    task = LinearTeacherTask(seed=3)
    modes = mode_values(task.teacher, task.teacher_bases)  # the teacher is diagonal in its own bases
    np.testing.assert_allclose(modes.w, task.teacher_modes.w, atol=1e-14)
    batch = task.sample(4, torch.Generator().manual_seed(0))
    assert batch.inputs.shape == (30, 4, 3) and batch.mask[:-1].sum() == 0 and batch.mask[-1].sum() == 4
    with pytest.raises(ConfigError, match="w_max"):
        LinearTeacherTask(w_max=1.0)
    card = Path(__file__).resolve().parents[1] / "models" / "linear_rflo.toml"
    spec = load_card(card)
    assert isinstance(spec.rule, RFLO) and spec.rule.decay == 0.5 and spec.network.self_connections
    out = tmp_path / "linear.h5"
    assert main(["train", str(card), "--out", str(out), "--iterations", "150", "--no-progress"]) == 0
    record = read_run(out)
    assert "rates" in record.last and "spikes" not in record.last and "rate_hz" not in record.curves
    loss = record.curves["loss"]
    assert loss[-20:].mean() < 0.5 * loss[:20].mean()
    assert np.abs(np.diagonal(record.params["w_rec"])).max() > 0  # self-connections are learned, not zeroed
