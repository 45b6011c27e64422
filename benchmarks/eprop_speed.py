#!/usr/bin/env python
r"""e-prop speed and memory benchmark (CPU): neuromorph's engines, norse BPTT and NEST 3.10 as peers.

Network and task: the flagship card ``models/eprop_sine.toml`` -- 100 Poisson inputs,
100 recurrent LIF neurons (tau_mem = 30 ms, v_th = 0.03, input scaling), one leaky
readout (tau_out = 30 ms, output scaling), random feedback, firing-rate regulariser,
AdamW (lr 3e-3) -- on the sine pattern task, T = 1000 steps of 1 ms.

Measured side by side in one run:

1. **Speed** -- sequences per second, at batch 1 and batch 32, of (JSON ``method`` in brackets)

   * forward-only simulation (``simulate``, no autograd, no learning) on the torch engine [forward] and the
     compiled engine [forward_compiled],
   * e-prop **factored** (exact end-of-sequence update from per-neuron factors), torch [factored] and
     compiled [compiled],
   * e-prop **online** (per-synapse eligibility state, updated every step), torch [online] and compiled
     [online_compiled] (where the package has no compiled online loop, ``engine="compiled"`` falls back to
     the torch loop: the ``ran`` column says what executed, probed by counting ``Lowered.step`` calls),
   * **BPTT** through autograd [bptt]: the torch step under autograd on either engine, so one row,
   * **norse BPTT** [norse_bptt], the peer: the same network from norse 1.1.0's ``LIFBoxCell`` and
     ``LIBoxCell``, forward + backward + AdamW step (:class:`NorseBPTT`),
   * **NEST 3.10** [nest], the peer: ``eprop_iaf_bsshslm_2020`` (``benchmarks/nest_peer.py``) in its own
     interpreter, when one is given (``--nest``) or found at ``.nest/bin/python``; skipped otherwise.

   Each neuromorph training measurement is one call of ``train_sequence`` (forward + gradient) whose
   gradients go through a real ``Learner.apply`` (AdamW step), i.e. one full training iteration. Warm-up
   runs first, then the median of several repeats, interleaved round-robin across the methods so that
   slow drifts in machine load hit every method alike; a method whose warm-up took over 1 s gets fewer
   repeats (the output names it). The table gives seq/s, the time relative to forward-only of the same
   engine, and the ratio to NEST; the targets table gives compiled factored / compiled forward-only
   (<= 1.5x) and compiled online / compiled forward-only (<= 3x) with met / NOT met, and the load average.

2. **Peak memory** at T = 1000 and T = 10000, batch 1 and batch 32, every method. Each configuration
   runs in a *fresh* subprocess (this script re-invoked with ``--_worker``): imports,
   parameters, input batch and a 10-step warm-up come first; then the RSS high-water mark
   is reset (``/proc/self/clear_refs``), the baseline RSS is read, one sequence is trained,
   and the reported number is the high-water mark minus the baseline, in MiB (see
   :func:`worker` for why ``VmHWM`` rather than plain ``ru_maxrss``). An analytic count
   of the dominant tensors is printed beside it (for BPTT: the bytes autograd saves for
   backward, measured with ``torch.autograd.graph.saved_tensors_hooks`` at two short
   lengths and extrapolated linearly in T, which is exact because every step saves the
   same tensors). Targets: online e-prop's peak at T = 10000 <= 1.2x its peak at T = 1000;
   compiled factored e-prop at T = 10000, batch 32 under 256 MiB.

3. **Threads** -- ``torch.set_num_threads(--threads)`` (default 1) before anything
   runs, in the parent and in every worker: the per-step loops issue many tiny ops on
   (B, 100) tensors, where OpenMP threads only add synchronisation and contention
   (measured: 0.33 s with one thread vs 1.2-11 s with two).

Usage::

    python benchmarks/eprop_speed.py                 # full run, about 5-8 min on 2 cores
    python benchmarks/eprop_speed.py --quick         # smoke test, about 1 min (T = 100)
    python benchmarks/eprop_speed.py --nest .nest/bin/python   # with NEST 3.10 (see nest_peer.py)
    python benchmarks/eprop_speed.py --threads 2 --out /tmp/eprop_2threads.json

NEST is an optional extra, not a dependency (it brings its own build)::

    python3.11 -m venv .nest && .nest/bin/pip install nest-simulator==3.10.0 numpy

Results go to stdout (aligned plain-text tables) and to JSON
(default ``benchmarks/results/eprop_speed.json``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import datetime
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CARD = REPO / "models" / "eprop_sine.toml"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "eprop_speed.json"

#: Stable method names (the JSON's ``method``); "compiled" is the factored path on the compiled engine.
METHODS = ("forward", "forward_compiled", "factored", "compiled", "online", "online_compiled", "bptt", "norse_bptt")
LABELS = {
    "forward": "forward-only, torch",
    "forward_compiled": "forward-only, compiled",
    "factored": "e-prop factored, torch",
    "compiled": "e-prop factored, compiled",
    "online": "e-prop online, torch",
    "online_compiled": "e-prop online, compiled",
    "bptt": "BPTT (autograd; either engine)",
    "norse_bptt": "norse BPTT (peer)",
    "nest": "NEST 3.10 eprop_iaf_bsshslm_2020 (peer)",
}
#: train.engine of each neuromorph method (BPTT is autograd through the torch step on either engine: one row)
ENGINE = {"forward": "torch", "forward_compiled": "compiled", "factored": "torch", "compiled": "compiled",
          "online": "torch", "online_compiled": "compiled", "bptt": "torch"}
#: the forward-only row of the same engine, for the "vs fwd" column
SAME_ENGINE_FORWARD = {m: "forward_compiled" if e == "compiled" else "forward" for m, e in ENGINE.items()}
THREAD_NOTE = (
    "set explicitly: per-step loops on a 100-neuron network are many tiny ops, and extra "
    "OpenMP threads only add contention (measured: 0.33 s with one thread vs 1.2-11 s with two)"
)
MIB = 1024.0 * 1024.0
RECORD_FLAG: bool | None = None  #: whether train_sequence takes ``record`` (set in setup())


# ----------------------------------------------------------------------------------- configurations


def plans(quick: bool) -> dict:
    """Repeat counts and sizes: the full plan takes about 5 minutes on 2 quiet cores with 1 thread.

    A method whose warm-up call took longer than ``slow_s`` (the torch-engine online loop at batch 32, ~2-4 s a
    sequence) gets ``slow_repeats`` timed repeats instead of ``repeats``; the output names every such row.
    """
    if quick:
        # a few rows that exercise every kind of worker (torch loop, compiled, norse) and both targets' checks
        mem = [("bptt", 1, 100), ("norse_bptt", 1, 100), ("online_compiled", 1, 100), ("online_compiled", 1, 1000),
               ("compiled", 1, 100), ("compiled", 1, 1000)]
        return {
            "T": 100,
            "warmup": 1,
            "repeats": {1: 2, 32: 2},
            "slow_s": 1.0,
            "slow_repeats": 1,
            "mem_T": (100, 1000),
            # (method, batch, T) measured in a fresh process each (~5 s of imports per worker)
            "memory": mem,
        }
    mem = [(m, b, t) for b in (1, 32) for t in (1000, 10000) for m in METHODS]
    return {
        "T": 1000,
        "warmup": 1,
        "repeats": {1: 7, 32: 7},
        "slow_s": 1.0,
        "slow_repeats": 3,
        "mem_T": (1000, 10000),
        "memory": mem,
    }


# ----------------------------------------------------------------------------------- setup


def setup(threads: int):
    """Import torch and neuromorph with ``threads`` intra-op threads; return the card's pieces."""
    import torch

    torch.set_num_threads(threads)
    warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad=True to a scalar")
    import inspect

    from neuromorph.backends.torch import train_sequence
    from neuromorph.config import load_card

    global RECORD_FLAG
    RECORD_FLAG = "record" in inspect.signature(train_sequence).parameters
    spec = load_card(CARD)
    return torch, spec


class Bench:
    """One method on one batch: a callable that runs one sequence (and applies the update)."""

    def __init__(self, torch, spec, method: str, batch: int, n_steps: int) -> None:
        from neuromorph.backends.torch import lower, simulate, train_sequence
        from neuromorph.network import Parameters, init_parameters
        from neuromorph.plasticity import BPTT, Learner, Mode, Target

        self.torch = torch
        self.method = method
        self.batch_size = batch
        self.n_steps = n_steps
        task = dataclasses.replace(spec.task, n_steps=n_steps)
        self.task = task
        self.engine = ENGINE[method]
        self.low = lower(spec.network, torch.float32, engine=self.engine)
        drawn, self.feedback = init_parameters(
            spec.network, spec.init, torch.Generator().manual_seed(spec.train.seed), torch.float32
        )
        self.tensors = {Target(k): torch.nn.Parameter(v.clone()) for k, v in drawn._asdict().items()}
        self.params = Parameters(**{t.value: p for t, p in self.tensors.items()})
        self.batch = task.sample(batch, torch.Generator().manual_seed(spec.train.seed)).to(torch.float32)
        if method == "bptt":
            self.rule = BPTT(targets=spec.rule.targets, regularization=spec.rule.regularization)
        elif method in ("factored", "compiled", "online", "online_compiled"):
            mode = Mode.ONLINE if method.startswith("online") else Mode.FACTORED
            self.rule = dataclasses.replace(spec.rule, mode=mode)
        else:
            self.rule = None
        if self.rule is not None:
            self.learner = Learner(spec.optimizer, self.tensors, self.rule.targets, None)
        self.nonfinite_updates = 0
        self._simulate, self._train = simulate, train_sequence
        # Measure the ordinary training iteration: no per-step recording of outputs and rule
        # state (the experiment loop records only on checkpoint iterations).
        self.train_kwargs = {"record": False} if RECORD_FLAG else {}

    def apply(self, grads) -> None:
        """The real optimizer step; a non-finite update is counted and skipped, not fatal.

        (BPTT gradients explode over T = 10000 steps with the card's initialisation; the
        benchmark still measures the work done to compute them.)
        """
        from neuromorph.errors import NonFiniteError

        try:
            self.learner.apply(grads)
        except NonFiniteError:
            self.nonfinite_updates += 1

    def run(self, batch=None) -> None:
        batch = self.batch if batch is None else batch
        if self.rule is None:
            self._simulate(self.low, self.params, batch.inputs)
        else:
            self._train(self.low, self.params, self.feedback, self.rule, self.task.loss, batch, self.apply,
                        **self.train_kwargs)

    def short_batch(self, n_steps: int):
        """The first ``n_steps`` of the batch (for warm-ups that should not cost a full sequence)."""
        from neuromorph.tasks.base import TrialBatch

        b = self.batch
        return TrialBatch(b.inputs[:n_steps], b.targets[:n_steps], b.mask[:n_steps])

    def probe(self, n_steps: int = 10) -> str:
        """What actually ran for this row: ``"torch loop"`` when the per-step torch ``Lowered.step`` is called
        once a step (on the compiled engine: the package fell back to the reference loop), else ``"compiled"``.

        Counted on a short batch by wrapping ``Lowered.step`` for the call; the compiled kernels never call it.
        """
        cls = type(self.low)
        original = cls.step
        calls = [0]

        def counting(*args, **kwargs):
            calls[0] += 1
            return original(*args, **kwargs)

        cls.step = counting
        try:
            self.run(self.short_batch(n_steps))
        finally:
            cls.step = original
        return "torch loop" if calls[0] >= n_steps else "compiled"


def _norse_rate_loss(torch, z, strength: float, target_hz: float, dt: float, per_sequence: bool = False):
    """A firing-rate regulariser like the card's: ``strength/2 * sum_j (rate_j - target)^2`` (rates per step), of
    the batch's mean rate or, ``per_sequence`` (``rule.regularization.rate = "sequence"``), averaged over each
    sequence's own rate."""
    if per_sequence:
        return 0.5 * strength * ((z.mean(dim=0) - target_hz * dt) ** 2).sum() / z.shape[1]
    rate = z.mean(dim=(0, 1))
    return 0.5 * strength * ((rate - target_hz * dt) ** 2).sum()


class NorseBPTT:
    """The same network built from norse 1.1.0 modules, trained by BPTT: forward + backward + AdamW step per call.

    ``norse.torch.LIFBoxCell`` (a LIF without synaptic current) for the 100 recurrent neurons, driven per step by
    ``W_in x_t + W_rec z_{t-1}`` (two ``torch.nn.functional.linear``), and ``norse.torch.LIBoxCell`` (a leaky
    integrator) on ``W_out z_t + b_out`` for the readout; tau_mem, tau_out, dt from the card. The membrane is in
    units of v_th (norse's LIFBoxCell threshold 1; the weights are the card's initial ones divided by v_th), so
    norse's ``triangle`` surrogate with alpha = pd_height has neuromorph's height and width. It is not the same
    step as neuromorph's (benchmarks/README.md): Euler decay 1 - dt/tau instead of exp(-dt/tau), reset by
    subtraction in the same step (``reset_subtract``, differentiated through z) instead of one step later,
    undifferentiated. Loss: masked mean squared error plus a firing-rate regulariser of the card's strength.
    ``norse.task`` is never imported (it needs torchvision).
    """

    engine = "torch"
    nonfinite_updates = 0

    def __init__(self, torch, spec, batch: int, n_steps: int) -> None:
        import norse.torch as nt
        from norse.torch.functional.reset import reset_subtract

        from neuromorph.network import init_parameters

        self.torch = torch
        self.method = "norse_bptt"
        self.batch_size = batch
        self.n_steps = n_steps
        net = spec.network
        self.task = task = dataclasses.replace(spec.task, n_steps=n_steps)
        self.batch = task.sample(batch, torch.Generator().manual_seed(spec.train.seed)).to(torch.float32)
        drawn, _ = init_parameters(net, spec.init, torch.Generator().manual_seed(spec.train.seed), torch.float32)
        v_th, dt = net.neuron.v_th, net.dt
        self.w_in = torch.nn.Parameter(drawn.w_in.clone() / v_th)
        self.w_rec = torch.nn.Parameter(drawn.w_rec.clone() / v_th)
        self.readout = torch.nn.Linear(net.n_rec, net.n_out)
        with torch.no_grad():
            self.readout.weight.copy_(drawn.w_out)
            self.readout.bias.zero_()
        self.lif = nt.LIFBoxCell(nt.LIFBoxParameters(
            tau_mem_inv=torch.tensor(1.0 / net.neuron.tau_mem), v_th=torch.tensor(1.0), v_reset=torch.tensor(0.0),
            method="triangle", alpha=net.neuron.pd_height, reset_method=reset_subtract), dt=dt)
        self.li = nt.LIBoxCell(nt.LIBoxParameters(tau_mem_inv=torch.tensor(1.0 / net.readout.tau_out)), dt=dt)
        self.params = [self.w_in, self.w_rec, *self.readout.parameters()]
        self.opt = torch.optim.AdamW(self.params, lr=spec.optimizer.lr)
        reg = spec.rule.regularization
        self.reg = (reg.strength, reg.target_hz, dt, reg.per_sequence) if reg is not None else None
        self.n_rec = net.n_rec

    def run(self, batch=None) -> None:
        torch = self.torch
        F = torch.nn.functional
        batch = self.batch if batch is None else batch
        B = batch.inputs.shape[1]
        z = torch.zeros(B, self.n_rec)
        s_lif, s_li = None, None
        ys, zs = [], []
        for x_t in batch.inputs:
            z, s_lif = self.lif(F.linear(x_t, self.w_in) + F.linear(z, self.w_rec), s_lif)
            y, s_li = self.li(self.readout(z), s_li)
            ys.append(y)
            zs.append(z)
        y, z_all = torch.stack(ys), torch.stack(zs)
        mask = batch.mask.unsqueeze(-1).to(y.dtype)
        loss = 0.5 * ((y - batch.targets) ** 2 * mask).sum() / mask.sum().clamp(min=1)
        if self.reg is not None and self.reg[0] > 0:
            loss = loss + _norse_rate_loss(torch, z_all, *self.reg)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if not all(bool(torch.isfinite(p.grad).all()) for p in self.params if p.grad is not None):
            self.nonfinite_updates += 1
            return
        self.opt.step()

    def short_batch(self, n_steps: int):
        return Bench.short_batch(self, n_steps)

    def probe(self, n_steps: int = 10) -> str:
        self.run(self.short_batch(n_steps))
        return "norse"


def make_bench(torch, spec, method: str, batch: int, n_steps: int):
    if method == "norse_bptt":
        return NorseBPTT(torch, spec, batch, n_steps)
    return Bench(torch, spec, method, batch, n_steps)


# ----------------------------------------------------------------------------------- speed


class NestPeer:
    """NEST 3.10's e-prop on the same network, in a worker process of another interpreter (``nest_peer.py``).

    One ``run`` is one update of ``batch`` sequences of ``n_steps`` steps; the network is built before any timing.
    """

    nonfinite_updates = 0

    def __init__(self, python: str, batch: int, n_updates: int, n_steps: int = 1000) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen([python, str(REPO / "benchmarks" / "nest_peer.py"), str(batch), str(n_updates),
                                      str(n_steps)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env=env)
        self._read(lambda line: line == "ready")

    def _read(self, accept) -> str:
        for line in self.proc.stdout:  # NEST prints its own messages: skip them
            if accept(line.strip()):
                return line.strip()
        raise RuntimeError(f"the NEST worker ended (exit {self.proc.wait()}); run benchmarks/nest_peer.py by hand")

    def run(self, batch=None) -> None:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        self._read(lambda line: line.replace(".", "", 1).isdigit())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


NEST_INSTALL = "python3.11 -m venv .nest && .nest/bin/pip install nest-simulator==3.10.0 numpy"


def find_nest(log) -> str | None:
    """``.nest/bin/python`` of this checkout when it exists and imports NEST 3.10 (the optional peer), else None."""
    python = REPO / ".nest" / "bin" / "python"
    if not python.exists():
        return None
    probe = subprocess.run([str(python), "-c", "import nest; print(nest.__version__)"], capture_output=True,
                           text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if probe.returncode != 0:
        log(f"{python} does not import nest: NEST peer skipped")
        return None
    version = (probe.stdout.strip().splitlines() or ["?"])[-1]
    log(f"NEST peer: {python} (nest {version})")
    return str(python)


def measure_speed(torch, spec, plan: dict, log, nest_python: str | None = None) -> list[dict]:
    """Median wall time per call, round-robin over methods (and NEST); slow methods get fewer repeats."""
    rows = []
    n_steps = plan["T"]
    for batch in (1, 32):
        benches = {m: make_bench(torch, spec, m, batch, n_steps) for m in METHODS}
        ran = {m: b.probe() for m, b in benches.items()}  # also the first-call compilation of every kernel
        if nest_python is not None:
            log(f"  batch {batch}: building the NEST peer ...")
            benches["nest"] = NestPeer(nest_python, batch, plan["warmup"] + plan["repeats"][batch] + 1, n_steps)
            ran["nest"] = "NEST"
        methods = tuple(benches)
        log(f"  batch {batch}: warm-up ({plan['warmup']} run each) ...")
        warm: dict[str, float] = {}
        for m, b in benches.items():
            t0 = time.perf_counter()
            for _ in range(plan["warmup"]):
                b.run()
            warm[m] = (time.perf_counter() - t0) / max(1, plan["warmup"])
        # NEST keeps every repeat: it is the denominator of every row's ratio
        wanted = {m: plan["repeats"][batch] if warm[m] <= plan["slow_s"] or m == "nest"
                  else min(plan["slow_repeats"], plan["repeats"][batch]) for m in methods}
        times: dict[str, list[float]] = {m: [] for m in methods}
        for r in range(max(wanted.values())):
            for m, b in benches.items():
                if len(times[m]) >= wanted[m]:
                    continue
                gc.collect()
                t0 = time.perf_counter()
                b.run()
                times[m].append(time.perf_counter() - t0)
            log(f"  batch {batch}: repeat {r + 1}/{max(wanted.values())} "
                + " ".join(f"{m}={times[m][-1]:.3f}s" for m in methods if len(times[m]) == r + 1))
        if "nest" in benches:
            benches["nest"].close()
        for m in methods:
            med = statistics.median(times[m])
            rows.append({
                "method": m,
                "label": LABELS[m],
                "engine": ENGINE.get(m, "peer"),
                "ran": ran[m],
                "batch": batch,
                "T": n_steps,
                "warmup": plan["warmup"],
                "warmup_s": warm[m],
                "repeats": len(times[m]),
                "shortened": wanted[m] < plan["repeats"][batch],
                "times_s": times[m],
                "median_s": med,
                "min_s": min(times[m]),
                "max_s": max(times[m]),
                "seq_per_s": batch / med,
                "ms_per_step": 1e3 * med / n_steps,
                "nonfinite_updates": benches[m].nonfinite_updates,
            })
    return rows


# ----------------------------------------------------------------------------------- memory


def _proc_status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the kernel's RSS high-water mark (Linux >= 4.0); also resets ``ru_maxrss``."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _maxrss_kib() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # macOS reports bytes


def worker(method: str, batch: int, n_steps: int, threads: int) -> dict:
    """Run in a fresh process: peak RSS increase of one training sequence.

    The peak is the kernel's per-process high-water mark, reset just before the run. On
    Linux it is read from ``VmHWM``: ``getrusage(RUSAGE_SELF).ru_maxrss`` also folds in the
    high-water mark of the process image *before* ``exec`` -- a copy of the parent, which
    here is the benchmark itself at ~380 MiB -- so on its own it reports the parent's size.
    ``ru_maxrss`` is kept in the JSON, and used where ``/proc`` is unavailable.
    """
    torch, spec = setup(threads)
    bench = make_bench(torch, spec, method, batch, n_steps)
    input_nnz = int(torch.count_nonzero(bench.batch.inputs))
    bench.run(bench.short_batch(min(10, n_steps)))  # one-time allocations (thread pools, kernels)
    gc.collect()
    reset = _reset_peak()
    base_rss = _proc_status_kib("VmRSS")
    base_maxrss = _maxrss_kib()
    t0 = time.perf_counter()
    bench.run()
    elapsed = time.perf_counter() - t0
    hwm = _proc_status_kib("VmHWM")
    maxrss = _maxrss_kib()
    if reset and base_rss is not None and hwm is not None:
        baseline, peak, source = base_rss, hwm, "VmHWM"
    else:  # conservative: the baseline is the high-water mark so far, which may hide growth
        baseline, peak, source = base_maxrss, maxrss, "ru_maxrss"
    return {
        "method": method,
        "batch": batch,
        "T": n_steps,
        "baseline_rss_mib": baseline / 1024.0,
        "peak_rss_mib": peak / 1024.0,
        "peak_increase_mib": max(0, peak - baseline) / 1024.0,
        "ru_maxrss_mib": maxrss / 1024.0,
        "peak_source": source,
        "hwm_reset": reset,
        "seconds": elapsed,
        "nonfinite_updates": bench.nonfinite_updates,
        "input_nnz": input_nnz,
    }


def run_worker_subprocess(method: str, batch: int, n_steps: int, threads: int) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_worker", method, str(batch), str(n_steps),
           "--threads", str(threads)]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        print(f"memory worker {method} B={batch} T={n_steps} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
        return {"method": method, "batch": batch, "T": n_steps, "baseline_rss_mib": None, "peak_rss_mib": None,
                "peak_increase_mib": None, "hwm_reset": True, "seconds": None, "error": tail[0]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bptt_saved_bytes(torch, spec, batch: int, n_steps_list, method: str = "bptt") -> dict:
    """Bytes autograd saves for backward in one BPTT sequence, per step and extrapolated.

    Measured exactly with ``saved_tensors_hooks`` (distinct storages) at two short lengths;
    every step saves the same tensors, so the count is ``a + b * T``.
    """
    counts = {}
    for n in (50, 100):
        bench = make_bench(torch, spec, method, batch, n)
        seen: dict[int, int] = {}

        def pack(t):
            st = t.untyped_storage()
            seen[st.data_ptr()] = st.nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            bench.run()
        counts[n] = sum(seen.values())
    per_step = (counts[100] - counts[50]) / 50.0
    fixed = counts[50] - 50 * per_step
    return {"per_step_bytes": per_step, "fixed_bytes": fixed,
            "by_T": {int(t): fixed + per_step * t for t in n_steps_list}}


def analytic_bytes(method: str, batch: int, n_steps: int, spec, saved: dict | None,
                   input_nnz: int | None = None) -> tuple[float, str]:
    """Dominant tensors of one sequence, counted from the current code (float32)."""
    n_in, n_rec, n_out = spec.network.n_in, spec.network.n_rec, spec.network.n_out
    f = 4
    tb = n_steps * batch
    if method in ("forward", "forward_compiled"):
        # Recording z, v (T,B,n_rec) and y (T,B,n_out); the per-step lists double it while stacking
        return tb * (2 * n_rec + n_out) * f, "recording z,v,y"
    if method == "factored":
        # per-step lists: pre_in, pre_rec, pre_bias, psi, out_trace, out_bias_trace, z, y
        return tb * (n_in + 4 * n_rec + 2 + n_out) * f, "stacked factors P_in,P_rec,psi,Zk,z,y"
    if method == "compiled":
        from neuromorph.backends.torch.compiled_eprop import checkpoint_every

        every, store = checkpoint_every(n_steps, batch, n_rec, f)
        kept = 2 * tb * n_rec * f if store else batch * -(-n_steps // every) * 5 * n_rec * f
        events = (tb + 1) * 8 + ((input_nnz if input_nnz is not None else tb * n_in // 20) + 1) * 8
        what = "z,psi kept" if store else f"checkpoints every {every} steps"
        return kept + events + 2 * tb * n_out * f, f"{what} + input events + y,delta"
    if method in ("online", "online_compiled"):
        # per-synapse state: ebar (B,n_rec,n_pre) per hidden target + accumulators acc, acc_e
        state = (batch + 2) * n_rec * (n_in + n_rec) * f
        if RECORD_FLAG:  # train_sequence(record=False) keeps no per-step history
            return state, "eligibility state (no history)"
        # older train.py recorded every step: the factored lists plus learning (n_rec), delta (n_out)
        recorded = tb * (n_in + 5 * n_rec + 2 + 2 * n_out) * f
        return state + recorded, f"eligibility {state / MIB:.2f} + recorded steps {recorded / MIB:.2f}"
    if method in ("bptt", "norse_bptt") and saved is not None and batch in saved.get(method, {}):
        return saved[method][batch]["by_T"][n_steps], "saved for backward (hooks)"
    return 0.0, "n/a"


# ----------------------------------------------------------------------------------- output


def fmt_table(headers: list[str], rows: list[list], align: str) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r):
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(r, widths, align)).rstrip()

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


#: Growth below this many MiB between the two lengths is within the RSS measurement's resolution (pages, the
#: allocator's arenas): the T ratio of a peak near zero says nothing.
MEM_RESOLUTION_MIB = 1.0
FACTORED_COMPILED_LIMIT_MIB = 256.0


def ratios(speed: list[dict], mem_rows: list[dict], mem_T) -> dict:
    """Time ratios and memory growth, with every target's verdict (``targets``)."""
    med = {(r["method"], r["batch"]): r["median_s"] for r in speed}
    fastest = {(r["method"], r["batch"]): r["min_s"] for r in speed}

    def over(num: str, den: str, table=med) -> dict:
        return {str(b): table[(num, b)] / table[(den, b)] for b in (1, 32) if (num, b) in table and (den, b) in table}

    t_lo, t_hi = mem_T
    growth: dict[str, dict] = {}
    peaks = {(r["method"], r["batch"], r["T"]): r for r in mem_rows if r.get("peak_increase_mib") is not None}
    for batch in (1, 32):
        for m in METHODS:
            lo, hi = peaks.get((m, batch, t_lo)), peaks.get((m, batch, t_hi))
            if lo is not None and hi is not None:
                a, b = lo["peak_increase_mib"], hi["peak_increase_mib"]
                growth.setdefault(str(batch), {})[m] = {
                    "low_mib": a, "high_mib": b, "ratio": b / a if a >= MEM_RESOLUTION_MIB else None,
                    "total_ratio": hi["peak_rss_mib"] / lo["peak_rss_mib"]}
    targets = []
    for name, num, den, limit in (("factored e-prop / forward-only, torch", "factored", "forward", 2.0),
                                  ("factored e-prop / forward-only, compiled", "compiled", "forward_compiled", 1.5),
                                  ("online e-prop / forward-only, compiled", "online_compiled", "forward_compiled",
                                   3.0)):
        for b, v in over(num, den).items():
            targets.append({"what": f"{name}, batch {b}", "value": v, "limit": limit, "unit": "x", "met": v <= limit})
    for batch, grow in growth.items():
        for m in ("online", "online_compiled"):
            g = grow.get(m)
            if g is None:
                continue
            flat = g["high_mib"] <= 1.2 * g["low_mib"] or g["high_mib"] - g["low_mib"] < MEM_RESOLUTION_MIB
            targets.append({"what": f"{LABELS[m]} peak memory T={t_hi} / T={t_lo}, batch {batch}",
                            "value": g["ratio"], "low_mib": g["low_mib"], "high_mib": g["high_mib"], "limit": 1.2,
                            "unit": "x", "met": flat})
    big = [r for k, r in peaks.items() if k[0] == "compiled" and k[2] == t_hi]
    if big:
        r = max(big, key=lambda r: r["batch"])
        targets.append({"what": f"{LABELS['compiled']} peak memory, T={t_hi}, batch {r['batch']}",
                        "value": r["peak_increase_mib"], "limit": FACTORED_COMPILED_LIMIT_MIB, "unit": "MiB",
                        "met": r["peak_increase_mib"] <= FACTORED_COMPILED_LIMIT_MIB})
    return {
        "factored_over_forward": over("factored", "forward"),
        "factored_over_forward_min": over("factored", "forward", fastest),
        "compiled_factored_over_compiled_forward": over("compiled", "forward_compiled"),
        "compiled_factored_over_compiled_forward_min": over("compiled", "forward_compiled", fastest),
        "compiled_online_over_compiled_forward": over("online_compiled", "forward_compiled"),
        "compiled_online_over_compiled_forward_min": over("online_compiled", "forward_compiled", fastest),
        "memory_growth": growth,
        "targets": targets,
    }


def _load(la) -> str:
    return "n/a" if not la else f"{la[0]:.1f}"


def report(result: dict) -> str:
    m = result["machine"]
    cfg = result["config"]
    speed = result["speed"]
    load = f"load average (1 min) at start / end: {_load(m.get('loadavg_start'))} / {_load(m.get('loadavg_end'))}"
    lines = [
        f"neuromorph e-prop benchmark  {result['date']}",
        f"network {cfg['n_in']} in / {cfg['n_rec']} LIF / {cfg['n_out']} out, card {cfg['card']}, "
        f"T = {cfg['T']}, dt = 1 ms",
        f"{m['processor']}, torch {m['torch']}, cpus {m['cpu_count']}, torch threads = {m['threads']} ({THREAD_NOTE})",
        load,
        "",
        f"Speed: one call = train_sequence(record={cfg['record']}): forward + gradient + AdamW apply "
        f"(forward-only: simulate, no_grad; norse: forward + backward + AdamW step; NEST: one update of B sequences); "
        f"median of repeats after {cfg['warmup']} warm-up; 'ran' = what executed (torch loop / compiled kernels); "
        "'vs fwd' = time / forward-only of the same engine",
    ]
    med = {(r["method"], r["batch"]): r["median_s"] for r in speed}
    nest = {r["batch"]: r["seq_per_s"] for r in speed if r["method"] == "nest"}
    rows = []
    for r in speed:
        fwd = med.get((SAME_ENGINE_FORWARD.get(r["method"], "forward"), r["batch"]))
        rows.append([
            LABELS[r["method"]], r.get("ran", "?"), r["batch"], r["T"], r["repeats"], f"{r['median_s']:.4f}",
            f"{r['min_s']:.4f}-{r['max_s']:.4f}", f"{r['ms_per_step']:.4f}", f"{r['seq_per_s']:.2f}",
            f"{r['median_s'] / fwd:.2f}x" if fwd and r["method"] in ENGINE else "-",
            f"{r['seq_per_s'] / nest[r['batch']]:.2f}x" if r["batch"] in nest else "n/a",
        ])
    lines.append(fmt_table(
        ["method", "ran", "batch", "T", "reps", "median s", "range s", "ms/step", "seq/s", "vs fwd", "x NEST"],
        rows, "llrrrrrrrrr"))
    if not nest:
        lines.append(f"note: no NEST peer (to include it: {NEST_INSTALL}, then --nest .nest/bin/python)")
    lines.append("note: BPTT is autograd through the torch step on either engine (train.engine does not change it): "
                 "one row")
    for r in speed:
        if r["method"] in ENGINE and ENGINE[r["method"]] == "compiled" and r.get("ran") == "torch loop":
            lines.append(f"note: {LABELS[r['method']]} at batch {r['batch']} ran the torch loop: the package falls "
                         "back from train.engine = \"compiled\" for it (no compiled kernel yet)")
    for r in speed:
        if r.get("shortened"):
            lines.append(f"note: shortened: {LABELS[r['method']]} at batch {r['batch']} took {r['warmup_s']:.1f} s "
                         f"in warm-up (> {cfg['slow_s']:.0f} s): {r['repeats']} repeats instead of "
                         f"{cfg['repeats'][str(r['batch'])]}")
    for r in speed:
        if r.get("nonfinite_updates"):
            lines.append(f"note: {LABELS[r['method']]} batch {r['batch']}: {r['nonfinite_updates']} non-finite "
                         "updates were skipped")
    lines.append("")
    lines.append("Peak memory: fresh subprocess per row; peak +MiB = high-water RSS during one sequence "
                 "- RSS after imports, setup and a 10-step warm-up")
    rows = []
    for r in result["memory"]:
        failed = r.get("peak_increase_mib") is None
        flag = " *" if r.get("nonfinite_updates") else ""
        rows.append([
            LABELS[r["method"]], r["batch"], r["T"],
            "-" if failed else f"{r['baseline_rss_mib']:.0f}",
            "failed" if failed else f"{r['peak_increase_mib']:.1f}{flag}",
            f"{r['analytic_mib']:.1f}", r["analytic_what"],
        ])
    lines.append(fmt_table(
        ["method", "batch", "T", "base MiB", "peak +MiB", "analytic MiB", "analytic counts"],
        rows, "lrrrrrl"))
    if any(r.get("nonfinite_updates") for r in result["memory"]):
        lines.append("* gradient was non-finite (BPTT explodes over this T); measured up to the skipped update")
    for r in result["memory"]:
        if r.get("error"):
            lines.append(f"failed: {LABELS[r['method']]} B={r['batch']} T={r['T']}: {r['error']}")
    if any(not r["hwm_reset"] for r in result["memory"]):
        lines.append("note: could not reset the RSS high-water mark; baselines are the pre-run peak")
    lines.append("")
    rt = result["ratios"]
    t_lo, t_hi = cfg["mem_T"]
    for batch, grow in rt["memory_growth"].items():
        parts = [f"{LABELS[k]} {v['low_mib']:.1f} -> {v['high_mib']:.1f} MiB"
                 + (f" ({v['ratio']:.1f}x)" if v["ratio"] is not None else "")
                 for k, v in grow.items()]
        lines.append(f"peak memory T={t_hi} vs T={t_lo}, batch {batch}: " + "; ".join(parts))
    lines.append("")
    lines.append(f"Targets ({load}):")
    rows = []
    for t in rt["targets"]:
        if t["unit"] == "x":
            value = "n/a" if t["value"] is None else f"{t['value']:.2f}x"
            if "low_mib" in t:
                value += f" ({t['low_mib']:.1f} -> {t['high_mib']:.1f} MiB)"
            limit = f"<= {t['limit']:g}x"
        else:
            value, limit = f"{t['value']:.1f} MiB", f"< {t['limit']:g} MiB"
        rows.append([t["what"], value, limit, "met" if t["met"] else "NOT met"])
    lines.append(fmt_table(["target", "measured", "limit", ""], rows, "lrrl"))
    lines.append(f"(memory growth under {MEM_RESOLUTION_MIB:g} MiB counts as flat: below the RSS resolution; "
                 "time ratios are of medians; the fastest-repeat ratios are in the JSON)")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="smoke test: T=100, few repeats, about 1 min")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default {DEFAULT_OUT})")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="memory workers run at a time (default: min(2, cpus)); peaks are per process")
    ap.add_argument("--nest", metavar="PYTHON", help="an interpreter with nest-simulator 3.10: NEST's e-prop on the "
                    "same network joins the interleaved speed runs (default: .nest/bin/python when it exists and "
                    f"imports nest; to make it: {NEST_INSTALL})")
    ap.add_argument("--no-nest", action="store_true", help="leave NEST out even when .nest/bin/python exists")
    ap.add_argument("--_worker", nargs=3, metavar=("METHOD", "BATCH", "T"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.threads < 1:
        ap.error("--threads must be >= 1")

    if args._worker:
        method, batch, n_steps = args._worker[0], int(args._worker[1]), int(args._worker[2])
        print(json.dumps(worker(method, batch, n_steps, args.threads)))
        return 0

    start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - start:6.1f}s] {msg}", file=sys.stderr, flush=True)

    plan = plans(args.quick)
    nest_python = None if args.no_nest else args.nest or find_nest(log)
    if nest_python is None:
        log(f"NEST peer skipped ({'--no-nest' if args.no_nest else 'no --nest and no working .nest/bin/python'}); "
            f"to include it: {NEST_INSTALL}, then --nest .nest/bin/python")
    torch, spec = setup(args.threads)
    net = spec.network
    result: dict = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpu_count": os.cpu_count(),
            "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": _cpu_model() or platform.processor() or platform.machine(),
            "loadavg_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        },
        "config": {
            "card": str(CARD.relative_to(REPO)),
            "n_in": net.n_in, "n_rec": net.n_rec, "n_out": net.n_out,
            "tau_mem": net.neuron.tau_mem, "v_th": net.neuron.v_th, "tau_out": net.readout.tau_out,
            "input_scaling": net.neuron.input_scaling, "output_scaling": net.readout.output_scaling,
            "feedback": spec.rule.feedback.value, "optimizer": spec.optimizer.name.value, "lr": spec.optimizer.lr,
            "T": plan["T"], "warmup": plan["warmup"], "repeats": {str(k): v for k, v in plan["repeats"].items()},
            "slow_s": plan["slow_s"], "slow_repeats": plan["slow_repeats"], "mem_T": list(plan["mem_T"]),
            "quick": args.quick,
            "record": False if RECORD_FLAG else "n/a (train_sequence has no record flag)",
        },
    }

    log(f"speed at T={plan['T']} with {torch.get_num_threads()} thread(s)")
    result["speed"] = measure_speed(torch, spec, plan, log, nest_python)
    result["machine"]["nest_python"] = nest_python

    log("analytic BPTT saved-tensor count (saved_tensors_hooks), neuromorph and norse")
    mem_T = sorted({t for _, _, t in plan["memory"]})
    saved = {m: {b: bptt_saved_bytes(torch, spec, b, mem_T, m) for b in sorted({b for x, b, _ in plan["memory"]
                                                                              if x == m})}
             for m in ("bptt", "norse_bptt")}
    result["bptt_saved_tensors"] = {str(b): v for b, v in saved["bptt"].items()}
    result["norse_bptt_saved_tensors"] = {str(b): v for b, v in saved["norse_bptt"].items()}

    # Peak RSS is per process, so workers may run side by side (--jobs) without changing
    # the memory numbers; only their (informational) run times stretch. Longest first.
    jobs = plan["memory"]
    cost = {"online": 8, "online_compiled": 8, "bptt": 2, "norse_bptt": 2, "factored": 1.5}
    order = sorted(jobs, key=lambda j: -j[1] * j[2] * cost.get(j[0], 1))
    log(f"memory: {len(jobs)} fresh worker processes, {args.jobs} at a time")
    done: dict[tuple, dict] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_worker_subprocess, *job, args.threads): job for job in order}
        for fut in concurrent.futures.as_completed(futures):
            method, batch, n_steps = job = futures[fut]
            row = fut.result()
            nbytes, what = analytic_bytes(method, batch, n_steps, spec, saved, row.get("input_nnz"))
            row["analytic_bytes"], row["analytic_mib"], row["analytic_what"] = nbytes, nbytes / MIB, what
            done[job] = row
            got = "failed" if row["peak_increase_mib"] is None else f"+{row['peak_increase_mib']:.1f} MiB"
            log(f"memory {method:15s} B={batch:<2d} T={n_steps:<5d} {got} (analytic {row['analytic_mib']:.1f})")
    mem_rows = [done[job] for job in jobs]
    result["memory"] = mem_rows
    result["ratios"] = ratios(result["speed"], mem_rows, plan["mem_T"])
    result["wall_s"] = time.perf_counter() - start
    result["machine"]["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None

    text = report(result)
    result["table"] = text
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    log(f"wrote {args.out} (total {result['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
