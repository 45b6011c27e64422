#!/usr/bin/env python
"""Online e-prop, torch loop vs compiled kernel (``train.engine = "compiled"``), on the flagship card.

``models/eprop_sine.toml`` (100 in / 100 LIF / 1 out, T = 1000) with ``rule.mode = "online"``, float32, one
torch thread, set up by :class:`eprop_speed.Bench` (its ``online`` method; the compiled run only switches the
engine). Speed: median wall time of one ``train_sequence(..., record=False)`` call (forward, eligibility, the
card's Adam update), batch 1 and 32, after a warm-up, round-robin over the two engines. Memory: the RSS
high-water mark of one sequence above the baseline (:func:`eprop_speed.worker`, a fresh process each) at
T = 1000 and 10000.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/eprop_online_compiled.py [--repeats 7] [--no-memory]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eprop_speed  # noqa: E402

ENGINES = ("torch", "compiled")


def bench(torch, spec, engine: str, batch: int, n_steps: int) -> eprop_speed.Bench:
    b = eprop_speed.Bench(torch, spec, "online", batch, n_steps)
    b.low = dataclasses.replace(b.low, engine=engine)
    return b


def speed(torch, spec, batch: int, repeats: dict[str, int]) -> dict[str, list[float]]:
    benches = {e: bench(torch, spec, e, batch, 1000) for e in ENGINES}
    for b in benches.values():
        b.run()  # warm-up (and the kernel's compile or cache load)
    times: dict[str, list[float]] = {e: [] for e in ENGINES}
    for r in range(max(repeats.values())):
        for e, b in benches.items():
            if r < repeats[e]:
                gc.collect()
                t0 = time.perf_counter()
                b.run()
                times[e].append(time.perf_counter() - t0)
    return times


def memory_worker(engine: str, batch: int, n_steps: int) -> dict:
    """In a fresh process: the peak RSS increase of one sequence (as :func:`eprop_speed.worker`)."""
    torch, spec = eprop_speed.setup(1)
    b = bench(torch, spec, engine, batch, n_steps)
    b.run(b.short_batch(10))
    gc.collect()
    eprop_speed._reset_peak()
    base = eprop_speed._proc_status_kib("VmRSS")
    t0 = time.perf_counter()
    b.run()
    seconds = time.perf_counter() - t0
    peak = eprop_speed._proc_status_kib("VmHWM")
    return {"engine": engine, "batch": batch, "T": n_steps, "peak_increase_mib": (peak - base) / 1024.0,
            "seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--torch-b32-repeats", type=int, default=3)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--_worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._worker:
        print(json.dumps(memory_worker(args._worker[0], int(args._worker[1]), int(args._worker[2]))))
        return
    torch, spec = eprop_speed.setup(1)
    for batch in (1, 32):
        reps = {"torch": args.torch_b32_repeats if batch == 32 else args.repeats, "compiled": args.repeats}
        times = speed(torch, spec, batch, reps)
        med = {e: statistics.median(t) for e, t in times.items()}
        print(f"batch {batch:2d}: torch {med['torch']:.4f} s, compiled {med['compiled']:.4f} s "
              f"(x{med['torch'] / med['compiled']:.1f}); repeats {reps}; all: "
              + json.dumps({e: [round(x, 4) for x in t] for e, t in times.items()}))
    if args.no_memory:
        return
    for batch in (1, 32):
        for engine in ENGINES:
            for n_steps in (1000, 10000):
                out = subprocess.run([sys.executable, __file__, "--_worker", engine, str(batch), str(n_steps)],
                                     capture_output=True, text=True, check=True)
                r = json.loads(out.stdout.strip().splitlines()[-1])
                print(f"memory {engine:8s} B={batch:2d} T={n_steps:5d}: +{r['peak_increase_mib']:.1f} MiB "
                      f"({r['seconds']:.2f} s)")


if __name__ == "__main__":
    main()
