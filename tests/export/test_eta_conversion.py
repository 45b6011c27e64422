"""The model's learning rate as the Loihi rule scale eta, and ``neuromorph export RUN.h5 --loihi2-rules RULES.txt``."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from neuromorph.cli import main
from neuromorph.dynamics import LIFParameters, ReadoutParameters
from neuromorph.errors import ExportError
from neuromorph.export.loihi_rule import eta_on_chip, parse_rule, run_rule_strings, trace_steps
from neuromorph.hardware.profile import load_profile
from neuromorph.network import NetworkSpec
from neuromorph.plasticity.base import Target
from neuromorph.plasticity.eprop import EProp, Mode


def test_eta_turns_integer_counts_into_the_model_update():
    """Chip bookkeeping in counts (x1, y1, y2, t, k_W) reproduces the model's -lr L e_bar / dW, for random values."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        lr, d_w, d_x, d_psi, d_l = 10.0 ** rng.uniform(-4, 0, 5)
        p, psi, sig = rng.uniform(0, 1, 3)
        e_bar = psi * p  # one step of dt = x1*y1 from a zero tag (in counts: x1*y1)
        x1, y1, y2 = p / d_x, psi / d_psi, max(sig, 0) / d_l
        t = x1 * y1
        dk = -eta_on_chip(lr, d_w, d_x, d_psi, d_l) * t * y2  # the dw rule's change, in weight LSBs
        assert dk * d_w == pytest.approx(-lr * sig * e_bar, rel=1e-12)
    with pytest.raises(ExportError, match="weight_step must be positive"):
        eta_on_chip(1e-3, 0.0, 1.0, 1.0, 1.0)


def spec_with(targets=("w_in", "w_rec", "w_out"), name="eprop"):
    neuron = LIFParameters(tau_mem=30e-3, v_th=0.03, input_scaling=True)
    network = NetworkSpec(4, 5, 1, neuron, ReadoutParameters(tau_out=30e-3, output_scaling=True), 1e-3)
    rule = EProp(mode=Mode.ONLINE, targets=frozenset(Target(t) for t in targets), split_signed=True)
    if name != "eprop":
        rule = SimpleNamespace(name=name, targets=rule.targets, regularization=rule.regularization)
    return SimpleNamespace(rule=rule, network=network)


def test_rule_strings_carry_the_converted_eta():
    profile, spec = load_profile("loihi2"), spec_with()
    d_x, d_psi, d_l = trace_steps(profile, spec.network.neuron, 1e-3, signal_max=0.5)
    s = 1 - math.exp(-1e-3 / 30e-3)
    assert (d_x, d_psi, d_l) == pytest.approx((s / 16, 0.3 / 0.03 / 127, 0.5 / 127))  # loihi2: impulse 16, 7 bits
    lr = 3 * 2.0**-5 * 1e-3 / (d_x * d_psi * d_l)  # eta = 3*2^-5 for a weight step of 1e-3: exactly representable
    lines = run_rule_strings(spec, {"w_in": 1e-3, "w_rec": 2e-3}, lr, 0.5, profile)
    rules = {line.split(":")[0]: [] for line in lines if not line.startswith("#")}
    for line in lines:
        if not line.startswith("#"):
            target, text = line.split(": ", 1)
            rules[target].append(parse_rule(text))
    assert set(rules) == {"w_in", "w_rec"} and any("w_out" in line and "host" in line for line in lines)
    dw_in, dw_rec = rules["w_in"][1], rules["w_rec"][1]
    assert dw_in.target == "dw" and [p.scale for p in dw_in.products] == [-3 * 2.0**-5, 3 * 2.0**-5]
    assert [p.factors for p in dw_in.products] == [("t", "y2"), ("t", "y3")]
    assert dw_rec.products[1].scale == 3 * 2.0**-6  # twice the weight step: half the eta
    assert rules["w_in"][0].target == "dt"


def test_rule_strings_refusals():
    spec = spec_with()
    with pytest.raises(ExportError, match="fixed-function.*--profile loihi2"):
        run_rule_strings(spec, {"w_in": 1e-3, "w_rec": 1e-3}, 1.0, 0.5, load_profile("loihi1"))
    with pytest.raises(ExportError, match="rule 'bptt' has no Loihi"):
        run_rule_strings(spec_with(name="bptt"), {}, 1.0, 0.5, load_profile("loihi2"))
    with pytest.raises(ExportError, match="w_in: eta = .* cannot be expressed"):
        run_rule_strings(spec, {"w_in": 1e-3, "w_rec": 1e-3}, 1e-3, 0.5, load_profile("loihi2"))
    with pytest.raises(ExportError, match="bias"):
        run_rule_strings(spec_with(("w_in", "bias")), {"w_in": 1e-3}, 1.0, 0.5, load_profile("loihi2"))


SMALL = ["task.n_steps=60", "task.n_in=8", "network.n_rec=10", "train.iterations=1", "train.checkpoint_every=1",
         "train.precision=\"float64\"", "rule.update_interval=20"]


def train(tmp, name, *extra):
    out = tmp / f"{name}.h5"
    args = ["train", "models/eprop_sine_chip.toml", "--out", str(out), "--no-progress", *extra]
    for item in SMALL:
        args += ["--set", item]
    assert main(args) == 0
    return out


def test_cli_writes_rules_or_says_why_not(tmp_path, capsys):
    # at the card's lr (1e-3) e-prop's per-step updates are ~1e-7 weight LSBs per t*y2 count: below the
    # engine's smallest scale 2^-7, so the run's rule cannot be written; lr = 512 brings eta into range
    default = train(tmp_path, "l2", "--profile", "loihi2")
    assert main(["export", str(default), "--loihi2-rules", str(tmp_path / "r0.txt")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("neuromorph: error: w_in: eta = ") and "cannot be expressed" in err and "\n" not in err
    assert not (tmp_path / "r0.txt").exists()
    big = train(tmp_path, "l2big", "--profile", "loihi2", "--set", "optimizer.lr=512.0")
    assert main(["export", str(big), "--loihi2-rules", str(tmp_path / "r.txt")]) == 0
    lines = [x for x in (tmp_path / "r.txt").read_text().splitlines() if not x.startswith("#")]
    assert [x.split(": ")[0] for x in lines] == ["w_in", "w_in", "w_rec", "w_rec"]
    assert all(parse_rule(x.split(": ", 1)[1]).products for x in lines)
    offline = train(tmp_path, "l1", "--profile", "loihi1", "--mode", "offline")
    assert main(["export", str(offline), "--loihi2-rules", str(tmp_path / "r1.txt")]) == 1
    assert "did not learn on a chip" in capsys.readouterr().err
