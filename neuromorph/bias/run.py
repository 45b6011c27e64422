"""``neuromorph bias CARD --out DIR``: run a bias-learning study, write one summary and its figures.

Each grid point is an ordinary training run (:func:`neuromorph.experiment.train`) with its own
HDF5 file in ``DIR/runs/``, so an interrupted study resumes where it stopped: finished runs are
read back, an interrupted one continues from its checkpoint. The summary ``DIR/summary.h5``
(:mod:`neuromorph.storage.bias`) and the PNG figures are written at the end.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from neuromorph.bias.evaluate import closed_loop, fixed_point_eigenvalues, free_run, held_out_accuracy, nmse
from neuromorph.storage.bias import write_study
from neuromorph.bias.study import MODES, Study
from neuromorph.config import RunSpec
from neuromorph.errors import NonFiniteError
from neuromorph.experiment import TrainResult, train
from neuromorph.network import init_parameters


@dataclass
class StudyResult:
    """The summary tree (as stored), its path, the figure paths and the printed table."""

    tree: dict
    path: Path
    figures: list[Path]
    table: str


def _grid(study: Study, out: Path, points: list[dict], progress: bool, force: bool = False,
          ) -> Iterator[tuple[dict, RunSpec, TrainResult]]:
    """Train every grid point (mode, seed and network overrides) into ``out/runs``; yield the results.

    A run that diverges (:class:`NonFiniteError`) is left in its file with ``status = "failed"``,
    reported in one line, and skipped: its entries in the summary stay NaN. ``force`` retrains
    runs whose file holds another card (e.g. after editing the study card).
    """
    bar = tqdm(points, desc=f"bias {study.spec.kind}", unit="run", disable=not progress)
    for point in bar:
        name = "_".join(f"{k}{v}" if k != "mode" else str(v) for k, v in point.items())
        bar.set_postfix_str(name)
        spec = study.run_spec(**point)
        try:
            result = train(spec, out=out / "runs" / f"{name}.h5", progress=False, force=force)
        except NonFiniteError as exc:
            tqdm.write(f"neuromorph: run {name} failed and is left out of the summary: {exc}", file=sys.stderr)
            continue
        yield point, spec, result


def trained_parameters(spec: RunSpec, mode: str) -> int:
    r"""How many numbers a mode learns in ``spec``'s network (the x axis of the paper's Fig. 1A).

    A one-step trial never reads the recurrent weights (they act on the previous step's rates), so
    there the network is feed-forward and :math:`W^\mathrm{rec}` is not counted.
    """
    n, n_in, n_out = spec.network.n_rec, spec.network.n_in, spec.network.n_out
    recurrent = 0 if spec.task.n_steps == 1 else n * n - (0 if spec.network.self_connections else n)
    sizes = {"w_in": n * n_in, "w_rec": recurrent, "bias": n, "w_out": n_out * n, "b_out": n_out}
    return sum(sizes[t.value] for t in MODES[mode])


def run_multitask(study: Study, out: Path, progress: bool, force: bool) -> tuple[dict, str]:
    """Test accuracy for every (variant, mode, width, seed): one random network, one bias vector per task."""
    s = study.spec
    acc = np.full((len(s.variants), len(s.modes), len(s.widths), len(s.seeds)), np.nan)
    n_params = np.zeros((len(s.modes), len(s.widths)), dtype=np.int64)
    points = [dict(variant=v, mode=m, n_rec=w, seed=seed) for v in s.variants for m in s.modes for w in s.widths
              for seed in s.seeds]
    for point, spec, result in _grid(study, out, points, progress, force):
        i, j, k = s.variants.index(point["variant"]), s.modes.index(point["mode"]), s.widths.index(point["n_rec"])
        acc[i, j, k, s.seeds.index(point["seed"])] = held_out_accuracy(spec.network, result.params, spec.task)
        n_params[j, k] = trained_parameters(spec, point["mode"])
    mean = acc.mean(axis=(0, 3))
    rows = [f"{'mode':<10}" + "".join(f"{'width ' + str(w):>12}" for w in s.widths)]
    rows += [f"{m:<10}" + "".join(f"{a:>12.3f}" for a in mean[j]) for j, m in enumerate(s.modes)]
    tree = {"accuracy": acc, "trained_parameters": n_params, "variants": np.array(s.variants),
            "modes": np.array(s.modes), "widths": np.array(s.widths), "seeds": np.array(s.seeds)}
    return tree, "held-out accuracy, mean over variants and seeds\n" + "\n".join(rows)


def run_gain(study: Study, out: Path, progress: bool, force: bool) -> tuple[dict, str]:
    """Generation error against the recurrent gain; Jacobian spectra before and after learning.

    Each trained network runs free from rest for ``eval_steps``. ``nmse`` is the error over the
    trained horizon (after the washout): a run succeeds when it is below ``success_nmse``.
    ``nmse_beyond`` is the error over the steps after the trained horizon, where a slightly wrong
    period shows up as a growing phase lag (and a transient that only mimicked the cycle, as a
    different cycle).
    """
    s = study.spec
    err = np.full((len(s.modes), len(s.gains), len(s.seeds)), np.nan)
    beyond = np.full_like(err, np.nan)
    examples, spectra = {}, {}
    points = [dict(mode=m, w_rec_gain=g, seed=seed) for m in s.modes for g in s.gains for seed in s.seeds]
    for point, spec, result in _grid(study, out, points, progress, force):
        index = s.modes.index(point["mode"]), s.gains.index(point["w_rec_gain"]), s.seeds.index(point["seed"])
        y, target, u = free_run(spec.network, result.params, spec.task, s.eval_steps)
        washout, horizon = spec.task.washout, spec.task.n_steps
        err[index] = nmse(y[washout:horizon], target[washout:horizon])
        if s.eval_steps > horizon:
            beyond[index] = nmse(y[horizon:], target[horizon:])
        if point["seed"] == s.seeds[0]:
            key = f"{point['mode']}_g{point['w_rec_gain']:g}"
            examples[key] = {"y": y, "target": target}
            if point["mode"] == "bias":
                spectra[key] = _spectra(spec, result, u[washout:].mean(0))
    success = err < s.success_nmse
    rows = [f"{'mode':<10}" + "".join(f"{'g=' + format(g, 'g'):>22}" for g in s.gains)]
    for j, m in enumerate(s.modes):
        rows.append(f"{m:<10}" + "".join(
            f"{np.median(err[j, k]):>9.3f} {int(success[j, k].sum())}/{len(s.seeds)} ({np.median(beyond[j, k]):.3f})"
            for k in range(len(s.gains))))
    tree = {"nmse": err, "nmse_beyond": beyond, "success": success, "modes": np.array(s.modes),
            "gains": np.array(s.gains), "seeds": np.array(s.seeds), "success_nmse": s.success_nmse,
            "eval_steps": s.eval_steps, "train_steps": study.base.task.n_steps, "examples": examples,
            "jacobian": spectra}
    title = (f"free-running NMSE over the trained horizon (median; successes below {s.success_nmse}; "
             f"in parentheses: steps {study.base.task.n_steps}-{s.eval_steps}, beyond it)")
    return tree, title + "\n" + "\n".join(rows)


def _spectra(spec: RunSpec, result: TrainResult, u_mean: np.ndarray) -> dict:
    """Eigenvalues of W diag(phi'(u*)) with the initial (zero) and the learned biases; the learned
    network's fixed point is searched from the mean pre-activation of its free run."""
    initial, _ = init_parameters(spec.network, spec.init, torch.Generator().manual_seed(spec.train.seed),
                                 spec.train.precision.dtype)
    before, _ = fixed_point_eigenvalues(spec.network, initial, np.zeros(spec.network.n_rec))
    after, converged = fixed_point_eigenvalues(spec.network, result.params, u_mean)
    return {"before": before, "after": after, "after_converged": converged}


def run_lorenz(study: Study, out: Path, progress: bool, force: bool) -> tuple[dict, str]:
    """Teacher-forced and closed-loop forecasting error on a fresh trajectory."""
    s = study.spec
    forced = np.full((len(s.modes), len(s.seeds)), np.nan)
    closed = np.full_like(forced, np.nan)
    traces = {}
    points = [dict(mode=m, seed=seed) for m in s.modes for seed in s.seeds]
    for point, spec, result in _grid(study, out, points, progress, force):
        j, i = s.modes.index(point["mode"]), s.seeds.index(point["seed"])
        r = closed_loop(spec.network, result.params, spec.task, s.warmup, s.warmup + s.closed_loop_steps, s.test_seed)
        after = slice(s.warmup, None)
        forced[j, i] = nmse(r["teacher_forced"][after, None], r["target"][after, None])
        closed[j, i] = nmse(r["closed_loop"][after, None], r["target"][after, None])
        if i == 0:
            traces[point["mode"]] = r
    rows = [f"{'mode':<10}{'teacher-forced':>16}{'closed loop':>14}"]
    rows += [f"{m:<10}{np.median(forced[j]):>16.3f}{np.median(closed[j]):>14.3f}" for j, m in enumerate(s.modes)]
    tree = {"teacher_forced_nmse": forced, "closed_loop_nmse": closed, "modes": np.array(s.modes),
            "seeds": np.array(s.seeds), "warmup": s.warmup, "lag": study.base.task.lag, "traces": traces}
    return tree, f"Lorenz x(t+{study.base.task.lag}) forecast, NMSE after {s.warmup} warm-up steps (median)\n" + \
        "\n".join(rows)


_KINDS: dict[str, Callable[[Study, Path, bool, bool], tuple[dict, str]]] = {
    "multitask": run_multitask, "gain": run_gain, "lorenz": run_lorenz,
}


def run_study(study: Study, out: str | Path, progress: bool = True, force: bool = False) -> StudyResult:
    """Run ``study`` into directory ``out``: per-run files, ``summary.h5`` and figures.

    Finished runs are read back and interrupted ones resume; ``force`` retrains runs whose files
    were written from another card.
    """
    from neuromorph.plots import bias as plots_bias

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    tree, table = _KINDS[study.spec.kind](study, out, progress, force)
    tree["elapsed_s"] = time.perf_counter() - start
    path = write_study(out / "summary.h5", study.spec.kind, study.text, tree)
    figures = plots_bias.plot_study(study.spec.kind, tree, out)
    return StudyResult(tree, path, figures, table)
