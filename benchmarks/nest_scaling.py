#!/usr/bin/env python
r"""NEST backend scaling: seconds per training sequence of the sine network at 100, 1 000 and 10 000 neurons.

Network: ``models/eprop_sine.toml`` with the tutorial's optimiser as in ``tests/nest/test_nest_backend.py`` (SGD
with lr 1e-4): 100 Poisson inputs (50 Hz, frozen raster), ``N`` recurrent LIF neurons
connected all to all, one leaky readout, random feedback, the firing-rate regulariser, e-prop (factored,
``w_in``, ``w_rec``, ``w_out``), one sequence per batch, T = 1000 steps of 1 ms (``--steps``). Only
``network.n_rec`` changes with the size; ``n_in`` stays 100.

Rows (JSON ``backend``/``engine``/``threads``), every one in a fresh subprocess, one after another:

* ``nest``, 1 and 2 threads (``--nest-threads``): neuromorph's NEST backend
  (:class:`neuromorph.backends.nest.NestBackend`), one ``train_sequence`` call = one NEST kernel built with
  the current weights, one sequence simulated, the gradient read back, the SGD step. The call is split into
  **build** (kernel, nodes, connections, generators), **simulate** (``nest.Simulate``) and **weights**
  (reading the learned weight matrices out of NEST after the sequence: ``GetConnections``), timed by wrapping
  ``nest.Simulate`` and the backend's ``_weights`` helper; build = total - simulate - weights.
* ``torch``, ``train.engine = "compiled"`` (numba loops) and ``"torch"`` (the reference loop, ``--engines``),
  float32, 1 torch / numba / OpenMP thread: one ``train_sequence`` call of neuromorph's torch backend with the
  same card, weights and raster.

Protocol: one warm-up call (numba compilation, NEST's first kernel), then the median of ``--repeats`` calls
(fewer when the warm-up shows they would exceed ``--budget`` seconds; the row says how many). The ratio columns
are NEST's seconds / the torch backend's (compiled engine; torch engine) at the same size. The memory
columns: the peak RSS increase of the first call, and per NEST connection the kernel's share (RSS once the
network is built, before any weight is read back) and the whole call's peak.

Memory. NEST's e-prop synapse is large and 10 000 all-to-all neurons are 1e8 synapses, so every NEST size
above the first is estimated before it runs: bytes per synapse = (peak RSS - RSS before the first call) /
``num_connections``, measured at the largest size already run (a memory probe at 1 000 neurons runs first
when none has), times the size's connection count. A row whose estimate exceeds ``--max-gib`` (12 GiB by
default) is skipped with the estimate printed, not run. The torch rows are estimated from their dense
matrices (``w_rec``, its gradient and the SGD step's temporaries: 6 N^2 float32) and skipped the same way.

Usage::

    .venv/bin/python benchmarks/nest_scaling.py                     # 100, 1 000, 10 000 neurons, T = 1000
    .venv/bin/python benchmarks/nest_scaling.py --quick             # smoke test: 100 and 300 neurons, T = 100
    .venv/bin/python benchmarks/nest_scaling.py --sizes 100,1000 --steps 500
    .venv/bin/python benchmarks/nest_scaling.py --wait-quiet        # first wait until the load average < 1.5

Needs NEST (``pip install "neuromorph[nest]"``); without it the NEST rows are skipped with that reason.
Results: a table on stdout and JSON (default ``benchmarks/results/nest_scaling.json``).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))  # the e-prop benchmark's /proc helpers (also when loaded by path)
from eprop_speed import _proc_status_kib as _status_kib  # noqa: E402
from eprop_speed import _reset_peak  # noqa: E402

CARD = REPO / "models" / "eprop_sine.toml"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "nest_scaling.json"
#: models/eprop_sine.toml with the tutorial's optimiser (tests/nest/test_nest_backend.py's SINE overrides)
NEST_SINE = {"optimizer.name": "sgd", "optimizer.lr": 1e-4, "train.precision": "float32"}
N_IN = 100
GIB = 1024.0**3
#: the size the memory probe runs at when no NEST row has been measured yet
PROBE_SIZE = 1000


def overrides(n_rec: int, n_steps: int, engine: str) -> dict:
    return {**NEST_SINE, "network.n_rec": n_rec, "task.n_steps": n_steps, "task.n_in": N_IN, "train.engine": engine}


def n_synapses(n_rec: int, n_out: int = 1) -> int:
    """NEST connections of the backend's network: inputs, recurrent (no autapses), readout, feedback, the
    parrots' and generators' static synapses, the final-update spikes and the recorders."""
    return (N_IN * n_rec + n_rec * (n_rec - 1) + 2 * n_rec * n_out + N_IN + n_out  # learned, feedback, inputs, target
            + N_IN + n_rec + n_rec + n_out)  # final update, spike recorder, multimeter


def torch_bytes(n_rec: int) -> float:
    """Dense float32 recurrent matrices of a torch training call: w_rec, its gradient, the step's temporaries."""
    return 6.0 * 4.0 * n_rec * n_rec


# ----------------------------------------------------------------------------------- the worker (subprocess)


def worker(backend: str, engine: str, n_rec: int, n_steps: int, threads: int, repeats: int, budget: float) -> dict:
    """One row, in a fresh process: warm-up, timed calls, phases (NEST) and the peak RSS increase."""
    import torch

    torch.set_num_threads(1)
    from neuromorph.backends.base import lower
    from neuromorph.config import load_card
    from neuromorph.network import Parameters, init_parameters
    from neuromorph.plasticity import Learner, Target

    spec = load_card(CARD, overrides(n_rec, n_steps, "torch" if backend == "nest" else engine))
    low = lower(spec.network, torch.float32, engine=spec.train.engine)
    drawn, feedback = init_parameters(spec.network, spec.init, torch.Generator().manual_seed(spec.train.seed),
                                      torch.float32)
    tensors = {Target(k): torch.nn.Parameter(v.clone()) for k, v in drawn._asdict().items() if v is not None}
    params = Parameters(**{k: (tensors[Target(k)] if v is not None else None) for k, v in drawn._asdict().items()})
    learner = Learner(spec.optimizer, tensors, spec.rule.targets, None)
    batch = spec.task.sample(1, torch.Generator().manual_seed(spec.train.seed)).to(torch.float32)
    phases = {"simulate": 0.0, "weights": 0.0, "base": None}
    if backend == "nest":
        from neuromorph.backends.nest import NestBackend
        from neuromorph.backends.nest import network as net

        runner = NestBackend(str(threads))
        nest = net.nest_module()
        simulate, weights = nest.Simulate, net._weights

        def timed_simulate(*a, **k):
            t0 = time.perf_counter()
            try:
                return simulate(*a, **k)
            finally:
                phases["simulate"] += time.perf_counter() - t0

        def timed_weights(*a, **k):
            if phases.get("base") is not None and "built_kib" not in phases:  # first read: the kernel is built
                built = _status_kib("VmRSS")  # every node and synapse, nothing read back or simulated yet
                if built is not None:
                    phases["built_kib"] = built - phases["base"]
            t0 = time.perf_counter()
            try:
                return weights(*a, **k)
            finally:
                phases["weights"] += time.perf_counter() - t0

        class TimedNest:  # the nest module with a timed Simulate (the module refuses attribute assignment)
            Simulate = staticmethod(timed_simulate)

            def __getattr__(self, name):
                return getattr(nest, name)

        net.nest_module, net._weights = TimedNest, timed_weights
    else:
        from neuromorph.backends.torch.backend import TorchBackend

        runner = TorchBackend()

    def call() -> dict:
        phases["simulate"] = phases["weights"] = 0.0
        t0 = time.perf_counter()
        runner.train_sequence(low, params, feedback, spec.rule, spec.task.loss, batch, learner.apply, record=False)
        total = time.perf_counter() - t0
        out = {"total": total}
        if backend == "nest":
            out.update(simulate=phases["simulate"], weights=phases["weights"],
                       build=total - phases["simulate"] - phases["weights"])
        return out

    gc.collect()
    reset = _reset_peak()
    base = phases["base"] = _status_kib("VmRSS")
    warm = call()
    phases["base"] = None  # the kernel's own size from the first call only
    peak = _status_kib("VmHWM") if reset else None
    n = max(1, min(repeats, int(budget // max(warm["total"], 1e-9))))
    calls = [call() for _ in range(n)]
    row = {"backend": backend, "engine": engine if backend != "nest" else "nest", "threads": threads,
           "n_rec": n_rec, "n_steps": n_steps, "warmup_s": warm["total"], "repeats": n,
           "calls_s": [c["total"] for c in calls], "s_per_seq": statistics.median(c["total"] for c in calls),
           "rss_base_mib": base / 1024 if base else None,
           "rss_increase_mib": (peak - base) / 1024 if peak and base else None}
    if backend == "nest":
        row["phases_s"] = {k: statistics.median(c[k] for c in calls) for k in ("build", "simulate", "weights")}
        row["num_connections"] = int(nest.GetKernelStatus("num_connections"))
        if row["rss_increase_mib"] is not None:  # the whole call's peak: kernel and the weights read back
            row["bytes_per_synapse"] = row["rss_increase_mib"] * 1024 * 1024 / row["num_connections"]
        if "built_kib" in phases:  # NEST's kernel alone (RSS once it is built, before the first weight read)
            row["kernel_bytes_per_synapse"] = phases["built_kib"] * 1024 / row["num_connections"]
    return row


def run_worker(backend: str, engine: str, n_rec: int, n_steps: int, threads: int, repeats: int, budget: float,
               timeout: float) -> dict:
    omp = str(threads if backend == "nest" else 1)
    env = {**os.environ, "OMP_NUM_THREADS": omp, "NUMBA_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_worker", backend, engine, str(n_rec), str(n_steps),
           str(threads), str(repeats), str(budget)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return {"error": f"exit {proc.returncode}: {tail[0][:200]}"}
    return json.loads(lines[-1])


# ----------------------------------------------------------------------------------- driver


def wait_quiet(threshold: float, every: float, give_up: float, log) -> dict:
    """Poll the 1-minute load average every ``every`` s until it is below ``threshold`` (at most ``give_up`` s)."""
    t0 = time.monotonic()
    while True:
        la = os.getloadavg()[0]
        waited = time.monotonic() - t0
        if la < threshold:
            log(f"load average {la:.2f} < {threshold} after {waited:.0f} s: measuring")
            return {"waited_s": waited, "quiet": True, "loadavg_1min": la}
        if waited >= give_up:
            log(f"load average still {la:.2f} after {waited:.0f} s: measuring anyway")
            return {"waited_s": waited, "quiet": False, "loadavg_1min": la}
        log(f"load average {la:.2f} >= {threshold}; waiting {every:.0f} s")
        time.sleep(every)


def nest_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("nest") is not None


def measure(args, log) -> list[dict]:
    rows: list[dict] = []
    per_synapse: tuple[int, float] | None = None  # (size it was measured at, bytes per synapse)
    have_nest = nest_available()
    limit = args.max_gib * GIB
    timeout = args.timeout
    for n_rec in args.sizes:
        for engine in args.engines:
            base = {"backend": "torch", "engine": engine, "threads": 1, "n_rec": n_rec, "n_steps": args.steps}
            est = torch_bytes(n_rec)
            if est > limit:
                rows.append({**base, "skipped": f"estimated {est / GIB:.1f} GiB > {args.max_gib:g} GiB"})
                log(f"skip torch/{engine} N={n_rec}: {rows[-1]['skipped']}")
                continue
            log(f"torch/{engine} N={n_rec} T={args.steps}")
            rows.append({**base, **run_worker("torch", engine, n_rec, args.steps, 1, args.repeats, args.budget,
                                              timeout)})
            log(f"  {_fmt_row(rows[-1])}")
        for threads in args.nest_threads:
            base = {"backend": "nest", "engine": "nest", "threads": threads, "n_rec": n_rec, "n_steps": args.steps}
            if not have_nest:
                rows.append({**base, "skipped": "NEST is not installed (pip install 'neuromorph[nest]')"})
                continue
            if per_synapse is None and n_rec > PROBE_SIZE:
                log(f"memory probe: nest N={PROBE_SIZE} T={args.steps}, one call")
                probe = run_worker("nest", "nest", PROBE_SIZE, args.steps, 1, 1, 0.0, timeout)
                if "bytes_per_synapse" in probe:
                    per_synapse = (PROBE_SIZE, probe["bytes_per_synapse"])
                    rows.append({**probe, "probe": True})
            if per_synapse is not None and n_rec > per_synapse[0]:
                est = per_synapse[1] * n_synapses(n_rec)
                if est > limit:
                    rows.append({**base, "estimated_gib": est / GIB, "skipped":
                                 f"estimated {est / GIB:.1f} GiB ({per_synapse[1]:.0f} B/synapse measured at "
                                 f"N={per_synapse[0]} x {n_synapses(n_rec):.3g} synapses) > {args.max_gib:g} GiB"})
                    log(f"skip nest/{threads} N={n_rec}: {rows[-1]['skipped']}")
                    continue
            log(f"nest/{threads} thread(s) N={n_rec} T={args.steps}")
            row = run_worker("nest", "nest", n_rec, args.steps, threads, args.repeats, args.budget, timeout)
            rows.append({**base, **row})
            log(f"  {_fmt_row(rows[-1])}")
            if "bytes_per_synapse" in row and (per_synapse is None or n_rec >= per_synapse[0]):
                per_synapse = (n_rec, row["bytes_per_synapse"])
    return rows


def _fmt_row(row: dict) -> str:
    if "error" in row:
        return f"error: {row['error']}"
    if "skipped" in row:
        return f"skipped: {row['skipped']}"
    extra = ""
    if "phases_s" in row:
        p = row["phases_s"]
        extra = f" (build {p['build']:.3g}, simulate {p['simulate']:.3g}, weights {p['weights']:.3g})"
    return f"{row['s_per_seq']:.4g} s/seq, median of {row['repeats']}{extra}"


def _label(row: dict) -> str:
    if row["backend"] == "nest":
        return f"NEST backend, {row['threads']} thread{'s' if row['threads'] > 1 else ''}"
    return f"torch backend, {row['engine']} engine, 1 thread"


def table(rows: list[dict]) -> str:
    ref = {r["n_rec"]: r["s_per_seq"] for r in rows
           if r["backend"] == "torch" and r["engine"] == "compiled" and "s_per_seq" in r}
    ref_torch = {r["n_rec"]: r["s_per_seq"] for r in rows
                 if r["backend"] == "torch" and r["engine"] == "torch" and "s_per_seq" in r}
    head = ["N", "T", "row", "s/seq", "runs", "build s", "simulate s", "weights s", "NEST / compiled",
            "NEST / torch eng.", "RSS +MiB", "B/synapse (kernel / peak)"]
    body = []
    for r in rows:
        if r.get("probe"):
            continue
        if "s_per_seq" not in r:
            body.append([f"{r['n_rec']}", f"{r['n_steps']}", _label(r), "-", "-", "-", "-", "-", "-", "-", "-",
                         "skipped: " + r["skipped"] if "skipped" in r else "error: " + r.get("error", "?")])
            continue
        p = r.get("phases_s", {})
        ratio = f"{r['s_per_seq'] / ref[r['n_rec']]:.0f}" if r["backend"] == "nest" and r["n_rec"] in ref else ""
        ratio_t = (f"{r['s_per_seq'] / ref_torch[r['n_rec']]:.1f}" if r["backend"] == "nest" and r["n_rec"] in ref_torch
                   else "")
        body.append([f"{r['n_rec']}", f"{r['n_steps']}", _label(r), f"{r['s_per_seq']:.4g}", f"{r['repeats']}",
                     f"{p['build']:.3g}" if p else "", f"{p['simulate']:.3g}" if p else "",
                     f"{p['weights']:.3g}" if p else "", ratio, ratio_t,
                     f"{r['rss_increase_mib']:.0f}" if r.get("rss_increase_mib") is not None else "",
                     f"{r.get('kernel_bytes_per_synapse', float('nan')):.0f} / {r['bytes_per_synapse']:.0f}"
                     if r.get("bytes_per_synapse") else ""])
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(b) + " |" for b in body]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=None,
                    help="recurrent neurons, comma-separated (default 100,1000,10000; --quick: 100,300)")
    ap.add_argument("--steps", type=int, default=None, help="T, steps of 1 ms per sequence (default 1000; --quick 100)")
    ap.add_argument("--nest-threads", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2],
                    help="NEST thread counts (default 1,2)")
    ap.add_argument("--engines", type=lambda s: s.split(","), default=["compiled", "torch"],
                    help="torch backend engines (default compiled,torch)")
    ap.add_argument("--repeats", type=int, default=None, help="timed calls after the warm-up (default 3; --quick 2)")
    ap.add_argument("--budget", type=float, default=90.0,
                    help="seconds the timed calls of a row may take; fewer repeats when the warm-up says so (90)")
    ap.add_argument("--max-gib", type=float, default=12.0, help="skip a row estimated above this (12 GiB)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds a row may take before it is killed")
    ap.add_argument("--quick", action="store_true", help="smoke test: 100 and 300 neurons, T = 100, 2 repeats")
    ap.add_argument("--wait-quiet", action="store_true",
                    help="wait (30 s polls, at most 30 min) until the 1-minute load average is below 1.5")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON (default {DEFAULT_OUT.relative_to(REPO)})")
    ap.add_argument("--_worker", nargs=7, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._worker:
        b, e, n, t, th, rep, bud = args._worker
        print(json.dumps(worker(b, e, int(n), int(t), int(th), int(rep), float(bud))))
        return 0
    args.sizes = args.sizes or ([100, 300] if args.quick else [100, 1000, 10000])
    args.steps = args.steps or (100 if args.quick else 1000)
    args.repeats = args.repeats or (2 if args.quick else 3)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    waited = wait_quiet(1.5, 30.0, 1800.0, log) if args.wait_quiet else None
    import numpy
    import torch

    started = datetime.datetime.now().astimezone()
    result = {"date": started.isoformat(timespec="seconds"),
              "config": {"card": str(CARD.relative_to(REPO)), "overrides": NEST_SINE, "n_in": N_IN,
                         "sizes": args.sizes, "n_steps": args.steps, "batch": 1, "repeats": args.repeats,
                         "budget_s": args.budget, "max_gib": args.max_gib, "nest_threads": args.nest_threads,
                         "engines": args.engines, "quick": args.quick},
              "machine": {"processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                          "python": platform.python_version(), "torch": torch.__version__,
                          "numpy": numpy.__version__, "torch_threads": 1, "loadavg_start": os.getloadavg(),
                          "wait": waited}}
    try:
        import importlib.metadata

        result["machine"]["nest"] = importlib.metadata.version("nest-simulator")
    except Exception:  # noqa: BLE001 -- NEST is optional
        result["machine"]["nest"] = None
    rows = measure(args, log)
    result["machine"]["loadavg_end"] = os.getloadavg()
    result["rows"] = rows
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    la0, la1 = result["machine"]["loadavg_start"], result["machine"]["loadavg_end"]
    print(f"NEST backend scaling  {result['date']}  T = {args.steps}, batch 1, n_in = {N_IN}, "
          f"NEST {result['machine']['nest']}, torch {torch.__version__}, {os.cpu_count()} cpus")
    print(f"load average (1 / 5 / 15 min) at start: {la0[0]:.2f} / {la0[1]:.2f} / {la0[2]:.2f}; "
          f"at end: {la1[0]:.2f} / {la1[1]:.2f} / {la1[2]:.2f}")
    print(table(rows))
    print(f"JSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
