"""The three networks: CHL clamps, the spiking variant's nudge moves the filtered rates, and a slow
check that the spiking variant learns XOR classically and temporally locally."""

import numpy as np
import pytest
import torch

from neuromorph.contrastive import models
from neuromorph.contrastive.card import parse_contrastive_card
from tests.helpers import contrastive_table
from neuromorph.contrastive.data import load_task
from neuromorph.contrastive.train import train_scheme
from neuromorph.errors import ConfigError

X = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
T = torch.tensor([[1.0, 0.0], [0.0, 1.0]])


def test_chl_clamps_the_output_rates_to_the_squeezed_target():
    net = models.NetSpec(2, 4, 2, "chl")
    p = models.init_params(net, torch.Generator().manual_seed(0))
    state = models.relax(net, p, X, T, True, 5)
    torch.testing.assert_close(models.rates(net, state)[1], T * 0.9 + 0.05)
    free = models.relax(net, p, X, T, False, 50)
    assert not torch.allclose(models.rates(net, free)[1], T * 0.9 + 0.05, atol=0.05)


def test_ep_nudge_moves_outputs_towards_the_target_by_order_beta():
    p = models.init_params(models.NetSpec(2, 4, 2), torch.Generator().manual_seed(1), dtype=torch.float64)
    x, t = X.double(), T.double()
    shifts = []
    for beta in (0.01, 0.001):  # linear response
        net = models.NetSpec(2, 4, 2, "ep", beta=beta)
        free = models.relax(net, p, x, t, False, 200)
        nudged = models.relax(net, p, x, t, True, 200, free)
        shift = models.rates(net, nudged)[1] - models.rates(net, free)[1]
        assert torch.all(shift * (t - models.rates(net, free)[1]) > 0)  # towards the target, every unit
        shifts.append(float(shift.abs().max()))
    assert shifts[0] / shifts[1] == pytest.approx(10, rel=0.05)


def test_spiking_nudge_raises_the_target_units_filtered_rate():
    net = models.NetSpec(2, 16, 2, "spiking", beta=2.0, dt=1e-3, tau_rate=10e-3)
    p = models.init_params(net, torch.Generator().manual_seed(0), 2.0)
    free = models.relax(net, p, X, T, False, 200)
    nudged = models.relax(net, p, X, T, True, 200, free)
    r_free, r_nudged = models.rates(net, free)[1], models.rates(net, nudged)[1]
    assert torch.all((r_nudged - r_free)[T.bool()] > 0.05)
    assert torch.all((r_nudged <= 1) & (r_nudged >= 0))
    assert free.hidden.z.sum() > 0  # the hidden LIF neurons spike


def test_bad_network_spec_names_the_key():
    with pytest.raises(ConfigError, match="NetSpec.model"):
        models.NetSpec(2, 4, 2, "hopfield")
    with pytest.raises(ConfigError, match="network.dt"):
        models.NetSpec(2, 4, 2, "ep", dt=2.0, tau=1.0)


@pytest.mark.slow
def test_spiking_variant_learns_xor_classically_and_temporally_locally():
    card = parse_contrastive_card(contrastive_table(
        "spiking", network={"n_hidden": 16, "dt": 1e-3, "init_scale": 2.0},
        neuron={"tau_rate": 10e-3, "tau_mem": 5e-3, "v_th": 0.5}, rule={"beta": 1.0},
        phases={"steps": 80, "reset": False}, train={"epochs": 200, "lr": 0.1, "seeds": [0], "eval_steps": 80}))
    data = load_task("xor", 0.25, np.random.default_rng(0))
    for scheme in ("classical", "periodic"):
        assert train_scheme(card, data, scheme, 0).final_test == 1.0, scheme


@pytest.mark.parametrize("model, plus", [("ep", False), ("ep", True), ("chl", True), ("spiking", True)])
def test_the_engine_network_steps_as_the_two_layer_model(model, plus):
    """Oracle for the engine path (:mod:`neuromorph.contrastive.layout`): the layered network of the engine,
    taught by the contrastive rule, steps as :func:`models.step` (free, EP nudge, CHL clamp, LIF units), float64."""
    from neuromorph.backends.base import lower
    from neuromorph.contrastive import layout
    from neuromorph.network import layered
    from neuromorph.contrastive.card import parse_contrastive_card

    spiking = model == "spiking"
    card = parse_contrastive_card(contrastive_table(
        model, network={"n_hidden": 5, **({"dt": 1e-3} if spiking else {})},
        neuron={"tau_rate": 5e-3, "tau_mem": 4e-3, "v_th": 0.3} if spiking else {}))
    net = card.net_spec(3, 2)
    gen = torch.Generator().manual_seed(4)
    p = models.init_params(net, gen, 2.0, torch.float64)
    p["b1"], p["b2"] = torch.randn(5, generator=gen, dtype=torch.float64), torch.randn(2, generator=gen, dtype=torch.float64)
    x = torch.rand(4, 3, generator=gen, dtype=torch.float64)
    target = torch.rand(4, 2, generator=gen, dtype=torch.float64)
    low, params = lower(layout.network_spec(card.network.neuron, net), torch.float64), layered(**p)
    rule = card.learning_rule("periodic")
    ref, state = models.initial_state(net, 4, torch.float64), low.initial_state(4)
    for _ in range(30):
        ref = models.step(net, p, ref, x, target, plus)
        teach = rule.teach(state.neuron.z, target, 1.0 if plus else -1.0, params, None)
        _, _, state = low.step(params, state, x, teach=teach)
        torch.testing.assert_close(state.y, models.rates(net, ref)[1], rtol=0, atol=1e-12)
        torch.testing.assert_close(state.neuron.z[:, :5], models.rates(net, ref)[0], rtol=0, atol=1e-12)
