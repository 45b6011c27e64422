"""Smoke tests of ``benchmarks/eprop_speed.py``: every row's callable runs, the table and targets are built.

The full ``--quick`` run (about a minute: fresh worker processes) is marked slow.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "eprop_speed.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("eprop_speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def card(bench):
    return bench.setup(1)


def test_method_names_are_stable(bench):
    assert bench.METHODS == ("forward", "forward_compiled", "factored", "compiled", "online", "online_compiled",
                             "bptt", "norse_bptt")
    assert set(bench.METHODS) | {"nest"} == set(bench.LABELS)


@pytest.mark.parametrize("method", ["forward", "forward_compiled", "factored", "compiled", "online",
                                    "online_compiled", "bptt", "norse_bptt"])
def test_every_row_runs_a_short_sequence(bench, card, method):
    torch, spec = card
    b = bench.make_bench(torch, spec, method, 2, 20)
    ran = b.probe(5)
    if method in ("forward", "factored", "online", "bptt"):
        assert ran == "torch loop"
    elif method in ("forward_compiled", "compiled"):
        assert ran == "compiled"
    elif method == "norse_bptt":
        assert ran == "norse"
    else:  # online_compiled: the torch loop until the package has a compiled online e-prop
        assert ran in ("torch loop", "compiled")
    b.run()
    assert b.nonfinite_updates == 0


def test_norse_peer_trains(bench, card):
    """Forward, backward and an AdamW step: the weights move and the readout gets a gradient."""
    torch, spec = card
    b = bench.make_bench(torch, spec, "norse_bptt", 3, 50)
    before = [p.detach().clone() for p in b.params]
    b.run()
    assert all(p.grad is not None for p in b.params)
    assert any(not torch.equal(p0, p.detach()) for p0, p in zip(before, b.params))


def _speed_row(method, batch, median):
    return {"method": method, "label": "", "ran": "torch loop", "batch": batch, "T": 1000, "warmup": 1,
            "warmup_s": median, "repeats": 7, "shortened": False, "times_s": [median], "median_s": median,
            "min_s": median, "max_s": median, "seq_per_s": batch / median, "ms_per_step": median,
            "nonfinite_updates": 0}


def _mem_row(method, batch, T, peak):
    return {"method": method, "batch": batch, "T": T, "baseline_rss_mib": 400.0, "peak_rss_mib": 400.0 + peak,
            "peak_increase_mib": peak, "hwm_reset": True, "analytic_mib": 0.0, "analytic_what": "n/a"}


def test_targets_and_table(bench):
    speed = [_speed_row(m, b, t) for b in (1, 32) for m, t in
             (("forward_compiled", 0.010), ("compiled", 0.014), ("online_compiled", 0.040), ("forward", 0.1),
              ("factored", 0.15), ("nest", 0.07))]
    mem = [_mem_row("online_compiled", 1, 1000, 10.0), _mem_row("online_compiled", 1, 10000, 11.0),
           _mem_row("compiled", 32, 1000, 20.0), _mem_row("compiled", 32, 10000, 300.0)]
    rt = bench.ratios(speed, mem, (1000, 10000))
    met = {t["what"]: t["met"] for t in rt["targets"]}
    assert met["factored e-prop / forward-only, compiled, batch 1"]  # 1.4x <= 1.5x
    assert not met["online e-prop / forward-only, compiled, batch 32"]  # 4x > 3x
    assert met["e-prop online, compiled peak memory T=10000 / T=1000, batch 1"]  # 1.1x
    assert not met["e-prop factored, compiled peak memory, T=10000, batch 32"]  # 300 MiB
    result = {"date": "d", "machine": {"processor": "cpu", "torch": "t", "cpu_count": 2, "threads": 1,
                                       "loadavg_start": (0.5, 0, 0), "loadavg_end": (1.5, 0, 0)},
              "config": {"n_in": 100, "n_rec": 100, "n_out": 1, "card": "c", "T": 1000, "warmup": 1,
                         "record": False, "slow_s": 1.0, "repeats": {"1": 7, "32": 7}, "mem_T": [1000, 10000]},
              "speed": speed, "memory": mem, "ratios": rt}
    text = bench.report(result)
    assert "NOT met" in text and "load average (1 min) at start / end: 0.5 / 1.5" in text
    assert "x NEST" in text


@pytest.mark.slow
def test_quick_run_writes_json(tmp_path):
    out = tmp_path / "eprop.json"
    subprocess.run([sys.executable, str(SCRIPT), "--quick", "--no-nest", "--out", str(out)], check=True, cwd=REPO,
                   capture_output=True, text=True)
    result = json.loads(out.read_text())
    assert {r["method"] for r in result["speed"]} == {"forward", "forward_compiled", "factored", "compiled", "online",
                                                      "online_compiled", "bptt", "norse_bptt"}
    assert all(r["peak_increase_mib"] is not None for r in result["memory"])
    assert result["ratios"]["targets"]
