"""The shared figure style (neuromorph.plots.style): every figure passes audit(), and the run figures
show what users asked for (loss definition, firing rate in Hz, integer iterations, ē and ΔW of a synapse)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib import ticker
from matplotlib.figure import Figure

from neuromorph.plots import compare_curves, plot_run
from neuromorph.plots.run import synapse_terms
from neuromorph.plots.style import (
    MAX_LINE_LUMA,
    PALETTE,
    PlainLogFormatter,
    audit,
    capture,
    log_axis,
    luma,
    plain_number,
    sequential,
    styled,
)
from neuromorph.storage import RunRecord, write_run

CARD = """[task]
name = "sine"
dt = 0.001

[network]
n_rec = 12
dt = 0.001

[network.neuron]
model = "{model}"
activation = "relu"
tau_adapt = 0.5
beta = 0.07

[network.readout]
tau_out = 0.03
output_scaling = true

[rule]
name = "eprop"

[rule.regularization]
strength = 300.0
target_hz = 10.0

[optimizer]
name = "adam"
lr = 0.003
"""


def spiking_record(rng: np.random.Generator, model: str = "lif", iterations: int = 7) -> RunRecord:
    """A run as `neuromorph train` writes it for e-prop: no stored eligibility, only its factors."""
    t, b, n_in, n = 200, 2, 10, 12
    target = np.sin(np.arange(t) * 2 * np.pi / 100)[:, None, None] * np.ones((1, b, 1))
    return RunRecord(
        config_toml=CARD.format(model=model), seed=0, versions={}, status="complete", iteration=iterations,
        curves={"loss": 30 + 10 * np.exp(-np.arange(iterations) / 3.0), "rate_hz": np.linspace(20, 12, iterations),
                "spike_count": np.linspace(400, 300, iterations)},
        params={},
        last={"inputs": (rng.random((t, b, n_in)) < 0.05).astype(np.float32),
              "spikes": (rng.random((t, b, n)) < 0.03).astype(np.uint8),
              "output": (target + 0.1 * rng.standard_normal((t, b, 1))).astype(np.float32),
              "target": target.astype(np.float32), "mask": np.ones((t, b), dtype=np.float32)},
        rule_state={"pre_trace_in": rng.random((t, n_in)), "pre_trace_rec": rng.random((t, n)),
                    "post_term": rng.random((t, n)), "learning_signal": rng.standard_normal((t, n)),
                    "output_error": rng.standard_normal((t, 1))},
        attrs={"dt": 1e-3, "loss": "regression", "rule": "eprop"},
    )


def figures_of(path: Path) -> list[Figure]:
    with capture() as figures:
        plot_run(path)
    return figures


def test_every_run_figure_passes_the_audit(tmp_path: Path) -> None:
    figures = figures_of(write_run(tmp_path / "run.h5", spiking_record(np.random.default_rng(0))))
    assert len(figures) == 4
    for fig in figures:
        assert audit(fig) == []


def test_learning_curve_shows_loss_definition_rate_in_hz_and_integer_iterations(tmp_path: Path) -> None:
    curve = figures_of(write_run(tmp_path / "run.h5", spiking_record(np.random.default_rng(1))))[0]
    labels = [ax.get_ylabel() for ax in curve.axes]
    assert any("Hz" in label for label in labels), labels
    titles = " ".join(ax.get_title(loc="left") for ax in curve.axes)
    assert "½ Σ_t" in titles and "‖y_t − y*_t‖²" in titles  # the regression loss of plasticity.losses
    assert "e-prop on sine" in curve.get_suptitle()  # not only the status
    bottom = curve.axes[-1]
    locator = bottom.xaxis.get_major_locator()
    assert isinstance(locator, ticker.MaxNLocator) and locator._integer  # noqa: SLF001 (no public getter)
    ticks = [t for t in bottom.get_xticks() if bottom.get_xlim()[0] <= t <= bottom.get_xlim()[1]]
    assert all(float(t).is_integer() for t in ticks), ticks
    rate = next(ax for ax in curve.axes if "Hz" in ax.get_ylabel())
    assert any(line.get_label().startswith("regulariser target 10") for line in rate.get_lines())


def test_no_line_is_lighter_than_the_limit(tmp_path: Path) -> None:
    assert MAX_LINE_LUMA <= 0.85
    assert all(luma(c) <= MAX_LINE_LUMA for c in PALETTE)
    assert all(luma(c) <= MAX_LINE_LUMA for c in sequential(7))
    assert luma("#F0E442") > MAX_LINE_LUMA and luma("#FDE725") > MAX_LINE_LUMA  # Okabe-Ito and viridis yellow
    for fig in figures_of(write_run(tmp_path / "run.h5", spiking_record(np.random.default_rng(2)))):
        for ax in fig.axes:
            for line in ax.get_lines():
                assert luma(line.get_color()) <= 0.85, line.get_label()


def test_audit_catches_what_users_reported() -> None:
    @styled
    def bad() -> Figure:
        fig = Figure()
        ax = fig.add_subplot()
        ax.plot([1, 2, 3], [25.0, 30.0, 40.0], color="#FDE725")
        ax.plot([1, 2, 3], [20.0, 25.0, 30.0])
        ax.set_ylabel("loss", fontsize=7)
        ax.set_yscale("log")  # matplotlib's own log formatter: 2.5×10¹-style mathtext
        return fig

    problems = " | ".join(audit(bad()))
    assert "7 pt" in problems
    assert "too light" in problems
    assert "no legend" in problems
    assert "no label" in problems  # the x axis
    assert "not plain" in problems


def test_log_axis_ticks_are_plain_numbers() -> None:
    assert [plain_number(v) for v in (25.0, 0.3, 1500.0, 1e-5, 1e-20, 2.5)] == ["25", "0.3", "1500", "1e-05", "1e-20",
                                                                                   "2.5"]

    @styled
    def draw(lo: float, hi: float) -> Figure:
        fig = Figure()
        ax = fig.add_subplot()
        ax.plot([1, 2], [lo, hi])
        log_axis(ax, "y")
        ax.set_ylim(lo, hi)
        fig.draw_without_rendering()
        return fig

    for lo, hi in ((55.0, 130.0), (3.0, 80.0), (1e-6, 1.0)):
        ax = draw(lo, hi).axes[0]
        labels = [t.get_text() for t in ax.get_yticklabels(which="both") if t.get_text()]
        assert len(labels) >= 2, (lo, hi, labels)
        assert all("$" not in s and "×" not in s for s in labels), labels
        assert isinstance(ax.yaxis.get_major_formatter(), PlainLogFormatter)


@pytest.mark.parametrize("adaptive", [False, True])
def test_synapse_terms_match_the_online_rule(adaptive: bool) -> None:
    """ē and ΣLē of one synapse from its stored factors equal plasticity.eprop_online's per-synapse state."""
    import torch

    from neuromorph.plasticity.base import Target
    from neuromorph.plasticity.eprop_online import online_init, online_step
    from neuromorph.plasticity.traces import PreTraces, TraceConstants

    rng = np.random.default_rng(3)
    t_steps, n_in, n = 60, 3, 4
    pre, psi, learning = rng.random((t_steps, n_in)), rng.random((t_steps, n)), rng.standard_normal((t_steps, n))
    kappa, s_out, rho, beta = math.exp(-1 / 30), 1 - math.exp(-1 / 30), math.exp(-1 / 500), 0.07
    c = TraceConstants(alpha=0.9, s_in=1.0, kappa=kappa, s_out=s_out, rho=rho if adaptive else None,
                       beta=torch.full((n,), beta, dtype=torch.float64) if adaptive else None)
    zero = torch.zeros(1, n, dtype=torch.float64)
    tr = PreTraces(torch.zeros(1, n_in, dtype=torch.float64), zero, torch.ones(1, 1, dtype=torch.float64), zero,
                   torch.ones(1, 1, dtype=torch.float64))
    state = online_init(frozenset({Target.W_IN}), tr, 1, adaptive)
    ebar = []
    for t in range(t_steps):
        tr = tr._replace(inp=torch.as_tensor(pre[t : t + 1]))
        state = online_step(state, c, tr, torch.as_tensor(psi[t : t + 1]), zero, torch.as_tensor(learning[t : t + 1]),
                            torch.zeros(1, 1, dtype=torch.float64))
        ebar.append(state.ebar[Target.W_IN][0].numpy().copy())
    j, i = 2, 1
    terms = synapse_terms(pre[:, i], psi[:, j], learning[:, j], kappa=kappa, s_out=s_out, lr=0.5,
                          rho=rho if adaptive else None, beta=beta if adaptive else 0.0)
    np.testing.assert_allclose(terms.filtered, np.array(ebar)[:, j, i], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(terms.delta_w[-1], -0.5 * state.acc[Target.W_IN][j, i].item(), rtol=1e-12)


def test_rule_state_shows_filtered_eligibility_and_weight_change(tmp_path: Path) -> None:
    for model in ("lif", "alif"):
        fig = figures_of(write_run(tmp_path / f"{model}.h5", spiking_record(np.random.default_rng(4), model)))[-1]
        labels = [ax.get_ylabel() for ax in fig.axes]
        assert labels == ["pre trace P_i", "pseudo-derivative ψ_j", "learning signal L_j",
                          "filtered eligibility ē_ji", "ΔW_ji (cumulative)"], labels
        assert all(t.get_fontsize() >= 9 for ax in fig.axes for t in (ax.yaxis.label, ax.title))
        assert "κ = 0.967" in fig.axes[3].get_title(loc="left")  # exp(-1 ms / 30 ms)


def test_rule_state_of_a_rate_network_says_what_its_post_term_is(tmp_path: Path) -> None:
    record = spiking_record(np.random.default_rng(5), model="rate")
    record.rule_state["post_term"] = np.ones_like(record.rule_state["post_term"])  # an always-active ReLU unit
    fig = figures_of(write_run(tmp_path / "rate.h5", record))[-1]
    psi_axis = next(ax for ax in fig.axes if "φ'" in ax.get_ylabel())
    assert "rate unit" in psi_axis.get_ylabel()
    assert "constant 1" in psi_axis.get_title(loc="left") and "ReLU" in psi_axis.get_title(loc="left")


def test_coinciding_runs_stay_visible(tmp_path: Path) -> None:
    record = spiking_record(np.random.default_rng(6), iterations=30)
    paths = {label: write_run(tmp_path / f"{label}.h5", record) for label in ("torch", "brian2")}
    with capture() as figures:
        compare_curves(paths, tmp_path / "both.png", title="same numbers")
    ax = figures[0].axes[0]
    first, second = ax.get_lines()[:2]
    assert first.get_linestyle() != second.get_linestyle()
    assert first.get_linewidth() > second.get_linewidth() and second.get_zorder() > first.get_zorder()
    assert second.get_marker() not in ("None", "", None)
    assert audit(figures[0]) == []


def test_sweep_figures_pass_the_audit(tmp_path: Path) -> None:
    from neuromorph.plots.sweep import sweep_figures

    rng = np.random.default_rng(7)
    summary = {}
    for task in ("romo", "dms"):
        for rule in ("bptt", "eprop"):
            for gain in (0.2, 1.0, 1.8):
                for floss in (False, True):
                    if floss and rule == "bptt":
                        continue
                    mean = 3 * np.exp(-np.arange(120) / 40) + 0.5 + 0.05 * rng.random(120)
                    summary[(task, rule, gain, floss)] = {"lr": 3e-3, "loss_mean": mean, "loss_sd": 0.1 * mean,
                                                          "le_before": rng.normal(gain - 1, 0.1, 2),
                                                          "le_after": rng.normal(gain - 1.2, 0.1, 2)}
    with capture() as figures:
        written = sweep_figures(summary, tmp_path)
    assert [p.name for p in written] == ["gain_loss_dms.png", "gain_loss_romo.png", "gain_lyapunov.png",
                                         "gain_flossing.png"]
    for fig in figures:
        assert audit(fig) == []
        for ax in fig.axes:
            assert len(ax.get_ylabel()) <= 40, ax.get_ylabel()  # no sentence-long y labels
