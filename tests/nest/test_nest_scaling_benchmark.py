"""Smoke tests of ``benchmarks/nest_scaling.py``: a tiny NEST row, the connection count, the memory skip."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import pytest

from neuromorph.backends.nest.support import nest_available

REPO = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("nest_scaling", REPO / "benchmarks" / "nest_scaling.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not nest_available(), reason="NEST is not installed (pip install 'neuromorph[nest]')")
def test_a_tiny_nest_row_counts_its_synapses_and_splits_its_time(bench):
    row = bench.worker("nest", "nest", 20, 20, 1, 1, 0.0)
    assert row["num_connections"] == bench.n_synapses(20)
    phases = row["phases_s"]
    assert abs(sum(phases.values()) - row["s_per_seq"]) < 1e-9 and min(phases.values()) >= 0
    assert row["repeats"] == 1 and row["s_per_seq"] > 0


def test_a_size_over_the_memory_limit_is_skipped_with_its_estimate(bench, monkeypatch):
    ran = []

    def fake(backend, engine, n_rec, n_steps, threads, repeats, budget, timeout):
        ran.append((backend, n_rec))
        return {"s_per_seq": 1.0, "repeats": 1, "bytes_per_synapse": 1000.0} if backend == "nest" else \
            {"s_per_seq": 0.5, "repeats": 1}

    monkeypatch.setattr(bench, "run_worker", fake)
    monkeypatch.setattr(bench, "nest_available", lambda: True)
    args = argparse.Namespace(sizes=[100, 10000], steps=10, engines=["compiled"], nest_threads=[1], repeats=1,
                              budget=1.0, max_gib=12.0, timeout=10.0)
    rows = bench.measure(args, lambda msg: None)
    skipped = [r for r in rows if "skipped" in r]
    assert len(skipped) == 1 and skipped[0]["n_rec"] == 10000 and skipped[0]["backend"] == "nest"
    assert "> 12 GiB" in skipped[0]["skipped"] and ("nest", 10000) not in ran
    assert "skipped" in bench.table(rows)
