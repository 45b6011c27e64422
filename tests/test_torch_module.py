"""neuromorph.torch.Network: the package's network as a torch.nn.Module (docs/torch_module.md).

Its forward pass is the package's simulate, its autograd the package's BPTT, and a local rule's update through
``local_grads`` + ``torch.optim.SGD`` is the package's own Session/Learner SGD step, all in float64 (exactly, or to
1e-12); its state_dict round-trips; examples/compose_with_torch.py (a Linear encoder before it) learns.
"""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from neuromorph.backends.torch import lower, simulate
from neuromorph.config import load_card
from neuromorph.engine import Session
from neuromorph.errors import ConfigError
from neuromorph.network import Parameters, init_parameters
from neuromorph.plasticity import BPTT, EProp, Feedback, Mode, OptimizerName, OptimizerSpec, Target
from neuromorph.plasticity.losses import loss_value
from neuromorph.torch import Network, Output

ROOT = Path(__file__).resolve().parents[1]
F64 = torch.float64
TARGETS = frozenset({Target.W_IN, Target.W_REC, Target.W_OUT, Target.BIAS, Target.B_OUT})


def small_card(neuron: str = "lif"):
    overrides = {"network.n_rec": 12, "task.n_in": 8, "task.n_steps": 40, "train.precision": "float64",
                 "train.engine": "torch", "network.neuron.model": neuron}
    if neuron == "alif":
        overrides["network.neuron.beta"] = 0.5
    return load_card("models/eprop_sine.toml", overrides)


def drawn(card, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    params, feedback = init_parameters(card.network, card.init, gen, F64)
    # non-zero biases and threshold offsets, so that every parameter enters the comparisons
    params = params._replace(bias=0.01 * torch.randn(card.network.n_rec, generator=gen, dtype=F64),
                             b_out=0.1 * torch.randn(card.network.n_out, generator=gen, dtype=F64),
                             threshold=0.005 * torch.randn(card.network.n_rec, generator=gen, dtype=F64))
    batch = card.task.sample(3, gen).to(F64)
    return params, feedback, batch


def assert_close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-12) -> None:
    assert a.shape == b.shape and a.dtype == b.dtype
    assert torch.equal(a, b) or float((a - b).abs().max()) <= tol * max(1.0, float(b.abs().max()))


def test_the_trained_tensors_are_registered_parameters_and_the_feedback_a_buffer():
    card = small_card()
    params, feedback, _ = drawn(card)
    net = Network(card.network, params, feedback, dtype=F64)
    assert [n for n, _ in net.named_parameters()] == ["w_in", "w_rec", "w_out", "bias", "b_out", "threshold"]
    assert [n for n, _ in net.named_buffers()] == ["feedback"]
    assert isinstance(net.w_rec, torch.nn.Parameter) and not isinstance(net.feedback, torch.nn.Parameter)
    assert torch.equal(net.w_in, params.w_in) and net.w_in.data_ptr() != params.w_in.data_ptr()  # a copy
    no_threshold = Network(card.network, params._replace(threshold=None), feedback, dtype=F64)
    assert "threshold" not in dict(no_threshold.named_parameters()) and no_threshold.threshold is None


@pytest.mark.parametrize("neuron", ["lif", "alif"])
def test_forward_is_the_packages_simulate(neuron):
    card = small_card(neuron)
    params, feedback, batch = drawn(card)
    net = Network(card.network, params, feedback, dtype=F64, engine="torch")
    rec = simulate(lower(card.network, F64), params, batch.inputs)
    with torch.no_grad():
        out = net(batch.inputs)
    assert isinstance(out, Output)
    assert torch.equal(out.y, rec.y) and torch.equal(out.z, rec.z) and torch.equal(out.v, rec.v)
    graph = net(batch.inputs)  # grad mode on, parameters require grad: the autograd path, the same step
    assert graph.y.requires_grad and graph.v is None
    assert_close(graph.y.detach(), rec.y)
    assert torch.equal(graph.z.detach(), rec.z)


def test_autograd_through_forward_is_the_packages_bptt():
    card = small_card()
    params, feedback, batch = drawn(card)
    net = Network(card.network, params, feedback, dtype=F64, engine="torch")
    loss = loss_value(card.task.loss, net(batch.inputs).y, batch.targets, batch.mask)
    loss.backward()
    autograd = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
    net.zero_grad()
    result = net.local_grads(BPTT(targets=TARGETS), batch, card.task.loss)
    assert result.loss == pytest.approx(float(loss.detach()), rel=1e-12)
    for t in TARGETS:
        grad = getattr(net, t.value).grad
        if t is Target.W_REC:  # local_grads keeps the network free of autapses
            assert torch.equal(grad.diagonal(), torch.zeros_like(grad.diagonal()))
            grad = grad + torch.diag(autograd["w_rec"].diagonal())
        assert_close(grad, autograd[t.value])
    assert net.threshold.grad is None  # not a target


RULES = {
    "eprop_factored": EProp(feedback=Feedback.RANDOM, mode=Mode.FACTORED, targets=TARGETS),
    "eprop_online": EProp(feedback=Feedback.RANDOM, mode=Mode.ONLINE, targets=TARGETS),
    "eprop_symmetric": EProp(feedback=Feedback.SYMMETRIC, targets=TARGETS | {Target.THRESHOLD}),
    "bptt": BPTT(targets=TARGETS),
}


@pytest.mark.parametrize("name", sorted(RULES))
def test_one_sgd_step_through_the_module_is_the_sessions_sgd_step(name):
    card = small_card()
    params, feedback, batch = drawn(card)
    rule, lr = RULES[name], 0.05
    session = Session.create(card.network, rule, card.task.loss, OptimizerSpec(OptimizerName.SGD, lr), params,
                             feedback, dtype=F64, engine="torch")
    expected = session.step(batch)
    net = Network(card.network, params, feedback, dtype=F64, engine="torch")
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    opt.zero_grad()
    result = net.local_grads(rule, batch, card.task.loss)
    opt.step()
    assert result.loss == expected.loss and result.spike_count == expected.spike_count
    for field in Parameters._fields:  # bit for bit: the same gradients, the same torch SGD arithmetic
        assert torch.equal(getattr(net, field).detach(), getattr(session.parameters, field).detach()), field
    assert torch.equal(net.feedback, feedback)
    for t in Target:
        if t not in rule.targets:
            assert torch.equal(getattr(net, t.value).detach(), getattr(params, t.value))


def test_local_grads_adds_to_existing_grads_like_backward():
    card = small_card()
    params, feedback, batch = drawn(card)
    net = Network(card.network, params, feedback, dtype=F64, engine="torch")
    rule = RULES["eprop_factored"]
    net.local_grads(rule, batch, card.task.loss)
    once = net.w_in.grad.clone()
    net.local_grads(rule, batch, "regression")
    assert_close(net.w_in.grad, 2 * once)


def test_state_dict_round_trip():
    card = small_card()
    params, feedback, batch = drawn(card)
    net = Network(card.network, params, feedback, dtype=F64)
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert sorted(state) == sorted([*Parameters._fields, "feedback"])
    fresh = Network(card.network, generator=torch.Generator().manual_seed(7), dtype=F64)
    assert not torch.equal(fresh.w_rec, net.w_rec)
    fresh.load_state_dict(state)
    for name, value in net.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], value)
    with torch.no_grad():
        assert torch.equal(fresh(batch.inputs).y, net(batch.inputs).y)


def test_dtype_changes_lower_the_network_again():
    card = small_card()
    params, feedback, batch = drawn(card)
    net = Network(card.network, params, feedback, dtype=torch.float32, engine="torch")
    with torch.no_grad():
        assert net(batch.inputs).y.dtype == torch.float32
        net.double()
        assert net.feedback.dtype == F64
        assert torch.equal(net(batch.inputs).y, simulate(lower(card.network, F64), net.params, batch.inputs).y)


def test_from_card_draws_what_train_draws():
    card = small_card()
    net = Network.from_card(card)
    params, feedback = init_parameters(card.network, card.init, torch.Generator().manual_seed(card.train.seed), F64)
    assert torch.equal(net.w_rec, params.w_rec) and torch.equal(net.feedback, feedback)
    assert net.w_rec.dtype == F64 and net.engine == "torch"


def test_refusals():
    card = small_card()
    params, feedback, batch = drawn(card)
    with pytest.raises(ConfigError, match="adaptive feedback"):
        Network(card.network, params, feedback, dtype=F64).local_grads(EProp(feedback=Feedback.ADAPTIVE), batch)
    with pytest.raises(ConfigError, match="pass feedback="):
        Network(card.network, params, dtype=F64).local_grads(EProp(feedback=Feedback.RANDOM), batch)
    with pytest.raises(ConfigError, match="differentiable=True"):
        with torch.no_grad():
            Network(card.network, params, feedback, dtype=F64)(batch.inputs, truncation=5)


def test_the_subpackage_does_not_shadow_torch():
    """``neuromorph/torch/`` next to modules that ``import torch``: every one of them gets the real torch."""
    code = ("import sys, torch, neuromorph, neuromorph.torch, neuromorph.torch.module as m, neuromorph.engine as e;"
            "real = sys.modules['torch'];"
            "assert m.torch is real and e.torch is real and m.nn is real.nn, 'shadowed';"
            "assert 'neuromorph' not in real.__file__.split('site-packages')[-1], real.__file__;"
            "assert neuromorph.torch is sys.modules['neuromorph.torch']")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def load_example():
    spec = importlib.util.spec_from_file_location("compose_with_torch", ROOT / "examples" / "compose_with_torch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("mode", ["bptt", "eprop"])
def test_the_composition_example_learns(mode):
    """examples/compose_with_torch.py, shrunk: the loss of the last iterations is below the first."""
    losses = load_example().train(mode, iterations=25, n_rec=30, width=20, n_steps=150)
    assert len(losses) == 25
    assert sum(losses[-3:]) / 3 < 0.9 * losses[0], losses


def test_the_docs_page_runs_as_written(monkeypatch):
    """docs/torch_module.md: its python blocks, in order, in one namespace (as a reader would paste them)."""
    import re

    page = ROOT / "docs" / "torch_module.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    assert len(blocks) >= 2, "docs/torch_module.md lost its examples"
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(page), "exec"), namespace)
    assert namespace["net"].w_rec.grad is not None and namespace["out"].y.shape == (100, 2, 1)
