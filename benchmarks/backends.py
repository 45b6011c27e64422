#!/usr/bin/env python
r"""torch against brian2 (numpy, cython, cpp_standalone) on the sine task, compile time counted apart.

Network and task: the flagship card ``models/eprop_sine.toml`` (100 Poisson inputs, 100 recurrent
LIF neurons, leaky readout, random-feedback e-prop with one update per sequence of T = 1000 steps of
1 ms), float64 in every backend so that the backends compute the same numbers.

For each backend, in one run:

* **build** — the first training iteration minus a steady one: constructing the brian2 objects and,
  for cython and cpp_standalone, generating and compiling the code (a cold cython cache is emptied
  first, into a private directory, so the number is a cold build; ``--warm-cache`` keeps it);
* **train** — the median wall time of one training iteration (forward pass, eligibility, update
  through a real AdamW ``Learner``), after the build;
* **forward** — the median of a forward-only simulation of one sequence.

Before timing, one iteration of every brian2 target is checked against torch: identical spike
rasters (the column ``same spikes``), so the table compares equal work.

``torch.set_num_threads(--threads)`` (default 1) first: the per-step loops issue many tiny ops
(extra threads only add contention: 0.33 s with one thread against 1.2-11 s with two). Usage::

    python benchmarks/backends.py               # about 4 min on 2 cores (cold cython build included)
    python benchmarks/backends.py --quick       # T = 200, 2 repeats, numpy and cpp_standalone only
    python benchmarks/backends.py --out /tmp/backends.json

Results: a plain-text table on stdout and JSON (default ``benchmarks/results/backends.json``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="T = 200, 2 repeats, numpy and cpp_standalone only")
    p.add_argument("--repeats", type=int, default=5, help="timed training iterations per backend (default 5)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--warm-cache", action="store_true", help="keep the cython cache (default: a cold build)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "backends.json")
    return p.parse_args()


def main() -> int:
    args = parse()
    torch.set_num_threads(args.threads)
    if not args.warm_cache:  # before brian2 reads the cache location
        os.environ["NEUROMORPH_BRIAN2_CACHE"] = tempfile.mkdtemp(prefix="neuromorph-b2-cold-")
    from neuromorph.backends.brian2 import Brian2Backend
    from neuromorph.backends.torch import lower, simulate, train_sequence
    from neuromorph.config import load_card
    from neuromorph.network import Parameters, init_parameters
    from neuromorph.plasticity import Learner, Target

    n_steps = 200 if args.quick else 1000
    repeats = 2 if args.quick else args.repeats
    spec = load_card(ROOT / "models" / "eprop_sine.toml", {"task.n_steps": n_steps, "train.precision": "float64"})
    dtype = torch.float64
    gen = torch.Generator().manual_seed(spec.train.seed)
    params0, feedback = init_parameters(spec.network, spec.init, gen, dtype)
    batch = spec.task.sample(spec.train.batch_size, gen).to(dtype)
    low = lower(spec.network, dtype)
    targets = ["torch", "brian2 numpy", "brian2 cython", "brian2 cpp_standalone"]
    if args.quick:
        targets.remove("brian2 cython")

    def fresh():
        """Trainable copies of the initial parameters and their AdamW learner (as ``experiment.train``)."""
        tensors = {Target(n): torch.nn.Parameter(v.clone()) for n, v in params0._asdict().items()}
        learner = Learner(spec.optimizer, tensors, spec.rule.targets)
        return Parameters(**{t.value: p for t, p in tensors.items()}), learner

    reference = train_sequence(low, params0, feedback, spec.rule, spec.task.loss, batch, lambda g: None, record=True)
    rows = []
    for name in targets:
        backend = None if name == "torch" else Brian2Backend(name.split()[1],
                                                             directory=Path(tempfile.mkdtemp(prefix="nm-b2-")))
        sequence = train_sequence if backend is None else backend.train_sequence
        params, learner = fresh()
        times = []
        t0 = time.perf_counter()
        first = sequence(low, params, feedback, spec.rule, spec.task.loss, batch, learner.apply, record=True)
        first_s = time.perf_counter() - t0
        same = bool(torch.equal(first.z, reference.z))
        for _ in range(repeats):
            t0 = time.perf_counter()
            sequence(low, params, feedback, spec.rule, spec.task.loss, batch, learner.apply, record=True)
            times.append(time.perf_counter() - t0)
        train_s = statistics.median(times)
        forward = simulate if backend is None else backend.simulate

        def run_sim(forward=forward):
            return forward(low, params0, batch.inputs)

        run_sim()  # builds the forward-only network (not timed: its build is a second, smaller one)
        sims = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            run_sim()
            sims.append(time.perf_counter() - t0)
        if backend is not None:
            backend.close()
        rows.append({"backend": name, "build_s": max(first_s - train_s, 0.0), "train_s": train_s,
                     "train_range_s": [min(times), max(times)], "forward_s": statistics.median(sims),
                     "same_spikes_as_torch": same})
        print(f"  {name}: done", file=sys.stderr)

    base = rows[0]["train_s"]
    print(f"\nbackends on the sine task: n_in {spec.network.n_in}, n_rec {spec.network.n_rec}, T = {n_steps}, "
          f"batch {spec.train.batch_size}, float64, {args.threads} torch thread(s); median of {repeats}")
    header = f"{'backend':<24}{'build s':>10}{'train s/it':>12}{'vs torch':>10}{'forward s':>11}{'same spikes':>13}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['backend']:<24}{r['build_s']:>10.2f}{r['train_s']:>12.3f}{r['train_s'] / base:>9.1f}x"
              f"{r['forward_s']:>11.3f}{'yes' if r['same_spikes_as_torch'] else 'NO':>13}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {"created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "torch": torch.__version__,
                          "threads": args.threads},
              "task": {"card": "models/eprop_sine.toml", "n_steps": n_steps, "batch": spec.train.batch_size,
                       "n_rec": spec.network.n_rec, "repeats": repeats, "cold_cython_cache": not args.warm_cache},
              "rows": rows}
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(args.out)
    print(f"\nwrote {args.out}")
    if not args.warm_cache:
        shutil.rmtree(os.environ["NEUROMORPH_BRIAN2_CACHE"], ignore_errors=True)
    return 0 if all(r["same_spikes_as_torch"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
