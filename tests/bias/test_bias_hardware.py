"""Bias-only tuning on chips: a bias synapse on Loihi 2, a learned bias on SpiNNaker 2.

Loihi's learning engine updates only synaptic variables, weight, delay and tag (Davies et al. 2018,
IEEE Micro 38(1), p. 91; Lava's Loihi 2 learning rules likewise take dw, dd and dt), so a bias becomes
a plastic synapse from an always-on neuron (docs/hardware.md, "Which rule runs on which chip";
docs/bias.md, "The rule").
"""

from __future__ import annotations

import torch

from neuromorph import experiment
from neuromorph.config import load_card
from neuromorph.hardware.setup import check_run
from neuromorph.network import init_parameters

SMALL = {"task.n_steps": 80, "task.n_in": 10, "network.n_rec": 12, "train.iterations": 4, "train.checkpoint_every": 2,
         "train.precision": "float64", "rule.update_interval": 20, "rule.targets": ["bias"]}


def bias_only(profile: str):
    return load_card("models/eprop_sine_chip.toml", {**SMALL, "hardware.profile": profile})


def findings(spec) -> dict[str, tuple[str, str]]:
    return {f.topic: (f.level, f.message) for f in check_run(spec).findings}


def test_loihi2_maps_each_bias_to_a_synapse_from_an_always_on_neuron():
    spec = bias_only("loihi2")
    found = findings(spec)
    assert found["bias"][0] == "mapped" and "always-on input neuron" in found["bias"][1]
    assert found["eligibility"][0] == "ok" and "per neuron" in found["eligibility"][1]
    assert "pre_trace" not in found, "pre = 1: bias-only reads no presynaptic trace"
    result = experiment.train(spec, progress=False)
    grids = result.hardware.numerics.grids
    # the bias synapse starts at zero, so it takes the input synapses' exponent (not the smallest one)
    assert grids.steps["bias"] == grids.steps["w_in"]
    k = result.params.bias / grids.steps["bias"]
    assert torch.equal(k, torch.round(k)) and 0 < k.abs().max() <= 255  # 8-bit + sign weights
    deployed = result.hardware.numerics.deploy(
        init_parameters(spec.network, spec.init, torch.Generator().manual_seed(spec.train.seed), torch.float64)[0])
    for name in ("w_in", "w_rec", "w_out"):  # frozen: exactly the deployed random weights
        assert torch.equal(getattr(result.params, name), getattr(deployed, name)), name


def test_spinnaker2_learns_the_biases_directly_in_software():
    spec = bias_only("spinnaker2")
    found = findings(spec)
    assert found["bias"] == ("ok", found["bias"][1]) and "learned directly" in found["bias"][1]
    result = experiment.train(spec, progress=False)
    assert "bias" not in result.hardware.numerics.grids.steps  # a neuron parameter in float32, not a synapse
    assert result.params.bias.abs().max() > 0


def test_bias_only_is_rejected_where_the_chip_cannot_learn_biases():
    spec = load_card("models/eprop_sine_chip.toml", {**SMALL, "hardware.profile": "spinnaker2",
                                                     "hardware.override": {"plasticity.bias_learning": "none"}})
    level, message = findings(spec)["bias"]
    assert level == "rejected" and "drop 'bias' from rule.targets" in message
