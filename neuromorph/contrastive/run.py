r"""``neuromorph contrastive``: train a card three ways, measure κ, check a profile.

:func:`run_contrastive` trains every (scheme, seed) of a :class:`ContrastiveCard`, prints a table of
final accuracies, writes one HDF5 file and the figures next to it; the run *passes* when every
temporally local scheme's mean final test accuracy is within the card's ``tolerance`` of the
classical one. :func:`run_kappa` measures the transient shrinkage κ against
:math:`1/(1 + \tau(1/T_+ + 1/T_-))` (`tests/contrastive/test_kappa.py`) for the cases of docs/contrastive.md.
torch runs on one thread: these are per-step loops on small networks. ``backend`` names a backend of
:mod:`neuromorph.backends.registry`; with ``"brian2"`` each (scheme, seed) is one brian2 run of the same
curriculum (:mod:`neuromorph.backends.brian2.contrastive`; ``target`` numpy, cython or cpp_standalone), in
float64, and the file records ``backend`` and ``brian2_target``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from neuromorph.backends.registry import get_backend
from neuromorph.contrastive.card import ContrastiveCard
from neuromorph.contrastive.data import load_task
from neuromorph.contrastive.kappa import THEORY_CASES, KappaCase, KappaResult, measure_kappa
from neuromorph.contrastive.train import Curve, train_scheme
from neuromorph.errors import ConfigError
from neuromorph.interrupt import deferred_interrupts
from neuromorph.storage.contrastive import read_contrastive, write_contrastive
from neuromorph.storage.lock import one_writer

#: check 20's tolerance on |κ_measured - κ_predicted|
KAPPA_TOLERANCE = 0.01


@dataclass(frozen=True)
class SchemeSummary:
    scheme: str
    mean: float
    std: float
    finals: tuple[float, ...]


@dataclass(frozen=True)
class ContrastiveResult:
    card: ContrastiveCard
    curves: list[Curve]
    summary: list[SchemeSummary]
    out: Path
    figures: list[Path]
    elapsed_s: float

    @property
    def classical(self) -> SchemeSummary | None:
        return next((s for s in self.summary if s.scheme == "classical"), None)

    @property
    def passed(self) -> bool:
        """Every local scheme within ``tolerance`` of classical (mean final test accuracy over seeds)."""
        ref = self.classical
        return ref is None or all(abs(s.mean - ref.mean) <= self.card.train.tolerance for s in self.summary)


@one_writer  # one process per output file (neuromorph.storage.lock)
def run_contrastive(card: ContrastiveCard, out: str | Path, *, progress: bool = True, figures: bool = True,
                    backend: str = "torch", target: str = "numpy", force: bool = False) -> ContrastiveResult:
    """Train, store and plot; see the module docstring.

    The file is rewritten (atomically) after every (scheme, seed), with ``status = "running"`` until the
    last; running the same card into the same ``out`` again resumes after the runs it holds (a finished
    file is returned as is), a different card or backend needs ``force=True``. Ctrl-C stops after the
    current run with a resumable file.
    """
    torch.set_num_threads(1)
    start, out = time.perf_counter(), Path(out)
    train, attrs, close = _trainer(card, backend, target)
    done = _resumed(card, out, attrs, force)
    data = load_task(card.task.name, card.task.test_fraction, np.random.default_rng(card.task.split_seed))
    runs = [(scheme, seed) for scheme in card.train.schemes for seed in card.train.seeds]
    curves = [done[r] for r in runs if r in done]
    try:
        with deferred_interrupts() as interrupts:
            for scheme, seed in tqdm([r for r in runs if r not in done], desc=f"contrastive {card.task.name}",
                                     disable=not progress):
                curves.append(train(card, data, scheme, seed, record_raster=(seed == card.train.seeds[0])))
                if len(curves) < len(runs):
                    write_contrastive(out, "train", card.source, _groups(card, curves, None),
                                      time.perf_counter() - start, status="running", card_resolved=resolved(card),
                                      **attrs)
                interrupts.check()
    finally:
        close()
    curves.sort(key=lambda c: runs.index((c.scheme, c.seed)))
    summary = [_summary(scheme, curves) for scheme in card.train.schemes]
    elapsed = time.perf_counter() - start
    write_contrastive(out, "train", card.source, _groups(card, curves, summary), elapsed, status="complete",
                      card_resolved=resolved(card), **attrs)
    paths: list[Path] = []
    if figures:
        from neuromorph.plots import contrastive as plots

        paths = plots.training_figures(curves, card, out)
    return ContrastiveResult(card, curves, summary, out, paths, elapsed)


def resolved(card: ContrastiveCard) -> str:
    """Every value of the card, defaults included, as sorted JSON: what a resume must find unchanged."""
    values = {k: v for k, v in dataclasses.asdict(card).items() if k not in ("source", "path")}
    return json.dumps(values, sort_keys=True, default=str)


def _summary(scheme: str, curves: list[Curve]) -> SchemeSummary:
    finals = tuple(c.final_test for c in curves if c.scheme == scheme)
    return SchemeSummary(scheme, float(np.mean(finals)), float(np.std(finals)), finals)


def _groups(card: ContrastiveCard, curves: list[Curve], summary: list[SchemeSummary] | None) -> dict[str, dict]:
    """The file's groups (``storage.contrastive``); a running file has no summary yet."""
    groups: dict[str, dict] = {"curves": {}, "params": {}, "raster": {}}
    if summary is not None:
        groups["summary"] = {
            "scheme": [s.scheme for s in summary], "mean_final_test": [s.mean for s in summary],
            "std_final_test": [s.std for s in summary], "n_seeds": [len(s.finals) for s in summary],
            "attrs": {"tolerance": card.train.tolerance}}
    for c in curves:
        groups["curves"].setdefault(c.scheme, {})[f"seed_{c.seed}"] = {
            "train_acc": c.train_acc, "test_acc": c.test_acc, "attrs": {"final_test": c.final_test}}
        groups["params"].setdefault(c.scheme, {})[f"seed_{c.seed}"] = dict(c.params)
        if c.raster is not None:
            groups["raster"][c.scheme] = c.raster
    return groups


def _resumed(card: ContrastiveCard, out: Path, attrs: dict, force: bool) -> dict[tuple[str, int], Curve]:
    """The runs an earlier ``out`` of the same card and backend holds (none with ``force`` or no file)."""
    if force or not out.exists():
        return {}
    old = read_contrastive(out)
    if old["attrs"].get("kind") != "train" or old["attrs"].get("card_resolved") != resolved(card):
        raise ConfigError(f"{out} holds a contrastive run of a different card; pass --force to overwrite it or "
                          "pick another --out")
    changed = [f"{k} {old['attrs'].get(k)!r} -> {v!r}" for k, v in attrs.items() if old["attrs"].get(k) != v]
    if changed:
        raise ConfigError(f"{out} cannot resume: {'; '.join(changed)}; pass --force to start over or pick another --out")
    done = {}
    for scheme, seeds in old.get("curves", {}).items():
        if scheme == "attrs":
            continue
        for key, curve in seeds.items():
            if key == "attrs":
                continue
            seed = int(key.removeprefix("seed_"))
            params = {n: v for n, v in old["params"][scheme][key].items() if n != "attrs"}
            raster = old.get("raster", {}).get(scheme) if seed == card.train.seeds[0] else None
            raster = {n: v for n, v in raster.items() if n != "attrs"} if raster else None
            done[(scheme, seed)] = Curve(scheme, seed, curve["train_acc"], curve["test_acc"], params, raster)
    return done


def _trainer(card: ContrastiveCard, backend: str, target: str):
    """``(train, file attrs, close)`` on the registry's ``backend``; brian2 computes in float64, so its runs do."""
    runner = get_backend(backend, target if backend != "torch" else None)
    dtype = torch.float64 if backend == "brian2" else torch.float32

    def train(card, data, scheme, seed, record_raster=False):
        return train_scheme(card, data, scheme, seed, record_raster=record_raster, dtype=dtype, backend=runner)

    return train, runner.attrs, runner.close


def format_table(result: ContrastiveResult) -> str:
    ref = result.classical
    c = result.card
    lines = [f"{c.task.name} ({c.model}), seeds {list(c.train.seeds)}, {c.train.epochs} epochs",
             f"  {'scheme':<10} {'final test acc':>16}  {'vs classical':>12}  per seed"]
    for s in result.summary:
        diff = "" if ref is None or s.scheme == "classical" else f"{s.mean - ref.mean:+.3f}"
        seeds = " ".join(f"{a:.3f}" for a in s.finals)
        lines.append(f"  {s.scheme:<10} {s.mean:>9.3f} ± {s.std:.3f}  {diff:>12}  {seeds}")
    verdict = "within" if result.passed else "NOT within"
    lines.append(f"  => temporally local schemes {verdict} {result.card.train.tolerance:g} of classical")
    return "\n".join(lines)


@dataclass(frozen=True)
class KappaRun:
    results: list[KappaResult]
    out: Path
    figures: list[Path]
    elapsed_s: float

    @property
    def passed(self) -> bool:
        return all(abs(r.error) < KAPPA_TOLERANCE and r.cosine > 0.99 for r in self.results)


@one_writer  # one process per output file (neuromorph.storage.lock)
def run_kappa(out: str | Path, *, cases: tuple[KappaCase, ...] = THEORY_CASES, runs: int = 1000,
              t_run: float = 100.0, dt: float = 0.01, seed: int = 0, progress: bool = True,
              figures: bool = True) -> KappaRun:
    """Measure κ for ``cases`` (``runs`` × ``t_run`` time units each), store and plot.

    ``runs >= 2`` (a standard error needs two), a finite ``t_run`` of at least one step ``dt`` and a
    ``seed`` in [0, 2**63 - 1]; anything else is a :class:`ConfigError` before any work.
    """
    _check_kappa_args(runs, t_run, dt, seed)
    start = time.perf_counter()
    results = [measure_kappa(c, np.random.default_rng([seed, i]), runs=runs, t_run=t_run, dt=dt)
               for i, c in enumerate(tqdm(cases, desc="kappa", disable=not progress))]
    elapsed = time.perf_counter() - start
    out = Path(out)
    col = lambda f: [f(r) for r in results]
    groups = {"kappa": {
        "label": col(lambda r: r.case.label), "process": col(lambda r: r.case.process),
        "tau": col(lambda r: r.case.tau), "mean_plus": col(lambda r: r.case.mean_plus),
        "mean_minus": col(lambda r: r.case.mean_minus), "measured": col(lambda r: r.measured),
        "stderr": col(lambda r: r.stderr), "predicted": col(lambda r: r.predicted), "cosine": col(lambda r: r.cosine),
        "attrs": {"runs": runs, "t_run": t_run, "dt": dt, "seed": seed, "tolerance": KAPPA_TOLERANCE}}}
    write_contrastive(out, "kappa", "", groups, elapsed)
    paths: list[Path] = []
    if figures:
        from neuromorph.plots import contrastive as plots

        paths = [plots.kappa_figure(results, out.with_suffix(".png"))]
    return KappaRun(results, out, paths, elapsed)


def _check_kappa_args(runs: int, t_run: float, dt: float, seed: int) -> None:
    if not isinstance(runs, int) or runs < 2:
        raise ConfigError(f"contrastive kappa: --runs must be an integer >= 2 (a standard error needs two), got {runs!r}")
    if not (math.isfinite(t_run) and math.isfinite(dt) and dt > 0 and t_run >= dt):
        raise ConfigError(f"contrastive kappa: --t-run must be a finite time >= dt = {dt}, got {t_run!r}")
    if not isinstance(seed, int) or not 0 <= seed <= 2**63 - 1:
        raise ConfigError(f"contrastive kappa: --seed must be an integer in [0, 2**63 - 1], got {seed!r}")


def format_kappa(run: KappaRun) -> str:
    lines = [f"  {'case':<36} {'measured':>9} {'± s.e.':>7} {'predicted':>9} {'error':>8} {'cosine':>7}"]
    for r in run.results:
        lines.append(f"  {r.case.label:<36} {r.measured:>9.4f} {r.stderr:>7.4f} {r.predicted:>9.4f} "
                     f"{r.error:>+8.4f} {r.cosine:>7.4f}")
    verdict = "all" if run.passed else "NOT all"
    lines.append(f"  => {verdict} within |Δκ| < {KAPPA_TOLERANCE} and cosine > 0.99")
    return "\n".join(lines)
