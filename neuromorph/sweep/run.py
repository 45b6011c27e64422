"""Run a sweep on dask.distributed (a LocalCluster by default, or ``--scheduler tcp://HOST:PORT``).

Each grid point is one task, :func:`run_point`, which

1. returns at once if ``DIR/runs/<id>.json`` says ``complete`` (resume skips finished runs);
2. draws the initial parameters exactly as :func:`neuromorph.experiment.train` does and measures
   the Lyapunov spectrum on a fixed evaluation batch;
3. optionally runs local pre-flossing (:func:`neuromorph.analysis.preflossing`) and measures again;
4. trains through :func:`~neuromorph.experiment.train` into ``DIR/runs/<id>.h5`` (atomic
   checkpoints, so a task recomputed after a killed worker resumes or restarts cleanly);
5. measures the spectrum after training and writes ``DIR/runs/<id>.json`` atomically.

Any exception inside a run is caught and written as ``status = "failed"`` with the error, so
one bad run never stops the sweep. Tasks are deterministic functions of the sweep file and the
point (float results are bit-identical to a serial run); dask reruns a task lost with a killed
worker (the nanny restarts the worker), and ``retries`` reruns one that raised outside the
guarded block.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from neuromorph.analysis.flossing import preflossing
from neuromorph.analysis.lyapunov import spectrum_of_run
from neuromorph.config import card_to_toml, resolved_card
from neuromorph.errors import ConfigError, StorageError
from neuromorph.experiment import train
from neuromorph.interrupt import deferred_interrupts
from neuromorph.network import init_parameters
from neuromorph.storage.atomic import atomic_path
from neuromorph.sweep.spec import RunPoint, SweepSpec, load_sweep

__all__ = ["SweepResult", "read_results", "run_point", "run_sweep"]

#: Offset of the pre-flossing generator's seed from the run seed (its own random stream).
FLOSS_SEED_OFFSET = 1_000_003


def _write_json(path: Path, payload: dict) -> None:
    """Atomically, with the permissions of every other output (the umask's, like the HDF5 files)."""
    with atomic_path(path, "run record") as tmp:
        tmp.write_text(json.dumps(payload, indent=1))


def _read_json(path: Path) -> dict | None:
    """A run record, or None when it is missing or unreadable (truncated by a kill: the run is redone)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


#: what each number of a run record means (stored in every record as ``units``)
UNITS = {"lyapunov_before": "1/step (natural log; divide by network.dt for 1/s), descending, at initialisation",
         "lyapunov_flossed": "1/step, after local pre-flossing", "lyapunov_after": "1/step, after training",
         "flossing_loss": "mean squared distance of the first k exponents from the target, (1/step)^2, per iteration",
         "final_loss": "the task loss of the last iteration (docs/run_files.md)", "seconds": "s (wall clock)"}


def card_digest(spec) -> str:
    """SHA-256 of a run's resolved card: a record counts as done only for the card it was made from."""
    return hashlib.sha256(card_to_toml(resolved_card(spec)).encode()).hexdigest()


def _spectrum(sweep: SweepSpec, spec, params) -> list[float]:
    ly = sweep.lyapunov
    batch = spec.task.sample(ly.batch_size, torch.Generator().manual_seed(ly.seed))
    with torch.no_grad():
        lam = spectrum_of_run(spec.network, params, batch.inputs.to(torch.float64),
                              k=ly.k, warmup=ly.warmup, generator=torch.Generator().manual_seed(ly.seed))
    return lam.tolist()


def _as64(params):
    return type(params)(*(None if p is None else p.detach().to(torch.float64) for p in params))


def run_point(sweep_path: str, out_dir: str, point: RunPoint, force: bool = False,
              overrides: dict | None = None) -> dict:
    """Run (or skip) one grid point; returns the record also written to ``runs/<id>.json``.

    A run is skipped only when its record says ``complete`` for the same resolved card and its
    HDF5 file exists; otherwise it is (re)run (``force``: over a file of another card).
    """
    runs = Path(out_dir) / "runs"
    json_path, h5_path = runs / f"{point.id}.json", runs / f"{point.id}.h5"
    record = {"id": point.id, "point": point.__dict__, "h5": f"runs/{point.id}.h5", "status": "running",
              "units": UNITS}
    start = time.perf_counter()
    try:
        sweep = load_sweep(sweep_path, check=False, overrides=overrides)  # checked once by run_sweep
        spec = sweep.run_spec(point)
        record["card_sha256"] = card_digest(spec)
        done = _read_json(json_path)
        if done is not None and done.get("status") == "complete" and h5_path.exists() \
                and done.get("card_sha256") == record["card_sha256"]:
            return {**done, "skipped": True}
        torch.set_num_threads(spec.train.threads)
        dtype = spec.train.precision.dtype
        params, _ = init_parameters(spec.network, spec.init, torch.Generator().manual_seed(spec.train.seed), dtype)
        record["lyapunov_before"] = _spectrum(sweep, spec, _as64(params))
        if point.flossing:
            gen = torch.Generator().manual_seed(spec.train.seed + FLOSS_SEED_OFFSET)
            params, history = preflossing(spec.network, params, spec.task.sample, sweep.flossing, gen)
            record["flossing_loss"] = history
            record["lyapunov_flossed"] = _spectrum(sweep, spec, _as64(params))
        result = train(spec, out=h5_path, params=params if point.flossing else None, progress=False, force=force)
        record["lyapunov_after"] = _spectrum(sweep, spec, _as64(result.params))
        record["final_loss"] = float(result.curves["loss"][-1])
        record["status"] = "complete"
    except Exception as exc:  # noqa: BLE001  (a failed run is recorded, never raised into the sweep)
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}",
                      traceback=traceback.format_exc(limit=8))
    record["seconds"] = time.perf_counter() - start
    runs.mkdir(parents=True, exist_ok=True)
    _write_json(json_path, record)
    return record


class SweepResult(dict):
    """Run id -> record (as in ``runs/<id>.json``); ``.failed`` lists the failed ids."""

    @property
    def failed(self) -> list[str]:
        return sorted(k for k, v in self.items() if v.get("status") != "complete")


def run_sweep(
    sweep_path: str | Path,
    out_dir: str | Path,
    *,
    scheduler: str | None = None,
    n_workers: int | None = None,
    serial: bool = False,
    progress: bool = True,
    retries: int = 2,
    on_result: Callable[[dict], None] | None = None,
    force: bool = False,
    overrides: dict | None = None,
) -> SweepResult:
    """Run every grid point of ``sweep_path`` into ``out_dir``; returns the records.

    ``serial`` runs in this process (no dask); otherwise ``scheduler`` is the address of an
    existing dask scheduler, or a LocalCluster of ``n_workers`` single-threaded worker processes
    (default: the CPU count) is started and closed. ``on_result`` is called with each record as
    it arrives (in completion order). An ``out_dir`` holding another sweep file is refused unless
    ``force`` (then runs of another card are redone). ``overrides`` are the command line's ``--set``
    (:func:`~neuromorph.sweep.spec.load_sweep`); a directory made with other overrides needs ``force`` too.
    """
    if n_workers is not None and n_workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {n_workers}")
    if scheduler is not None and "://" not in scheduler:
        raise ConfigError(f"--scheduler must be an address like tcp://HOST:PORT, got {scheduler!r}")
    sweep = load_sweep(sweep_path, overrides=overrides)
    out_dir = Path(out_dir)
    _claim(out_dir, sweep.path, force, overrides)  # sweep.path: the file read (a shipped sweep's, for a shipped name)
    points = sweep.points()
    path = str(sweep.path.resolve())
    results = SweepResult()
    bar = tqdm(total=len(points), disable=not progress, desc="sweep", unit="run")

    def collect(record: dict) -> None:
        results[record["id"]] = record
        bar.update(1)
        bar.set_postfix(failed=len(results.failed))
        if on_result is not None:
            on_result(record)

    try:
        if serial:
            for point in points:
                collect(run_point(path, str(out_dir), point, force, overrides))
        else:
            _run_dask(path, str(out_dir), points, scheduler, n_workers, retries, collect, force, overrides)
    finally:
        bar.close()
    return results


def _claim(out_dir: Path, sweep_path: Path, force: bool, overrides: dict | None = None) -> None:
    """Copy the sweep file (and the ``--set`` overrides, as comments) into ``out_dir``; a directory made by a
    different sweep file or other overrides needs ``force``."""
    text = sweep_path.read_text() + "".join(f"# --set {k}={v!r}\n" for k, v in (overrides or {}).items())
    copy = out_dir / "sweep.toml"
    if copy.exists() and not force and copy.read_text() != text:
        raise ConfigError(f"{out_dir} holds the results of a different sweep file ({copy} differs from {sweep_path}"
                          f"{' with these --set overrides' if overrides else ''}); "
                          "its runs would mix: pass --force to redo the changed runs or choose another --out")
    (out_dir / "runs").mkdir(parents=True, exist_ok=True)
    with atomic_path(copy, "sweep file copy") as tmp:
        tmp.write_text(text)


def _run_dask(path, out_dir, points, scheduler, n_workers, retries, collect, force=False, overrides=None) -> None:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ConfigError("sweeps need the 'sweep' extra (dask.distributed): "
                          'pip install -c constraints.txt -e ".[sweep]" (or pass --serial)') from None
    logging.getLogger("distributed").setLevel(logging.WARNING)  # the scheduler's INFO lines would bury the bar
    cluster = None
    if scheduler is None:
        with deferred_interrupts() as interrupts:  # a Ctrl-C while the workers start is kept, not swallowed
            cluster = LocalCluster(n_workers=n_workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                                   dashboard_address=":0", silence_logs=logging.ERROR)
        if interrupts.requested:  # stop before any run: nothing is half-written, the sweep resumes as it is
            cluster.close()
            raise KeyboardInterrupt
    try:
        with Client(cluster if cluster is not None else scheduler, timeout="20s") as client:
            futures = {client.submit(run_point, path, out_dir, p, force, overrides, key=f"run-{p.id}", retries=retries,
                                     pure=False): p
                       for p in points}
            for future in as_completed(futures):
                point = futures[future]
                try:
                    record = future.result()
                except Exception as exc:  # noqa: BLE001  (e.g. KilledWorker after repeated worker deaths)
                    record = {"id": point.id, "point": point.__dict__, "status": "failed",
                              "error": f"{type(exc).__name__}: {exc}"}
                    runs = Path(out_dir) / "runs"
                    _write_json(runs / f"{point.id}.json", record)
                collect(record)
    except OSError as exc:
        raise ConfigError(f"cannot reach the dask scheduler {scheduler!r}: {exc}") from None
    finally:
        if cluster is not None:
            cluster.close()


def read_results(out_dir: str | Path) -> SweepResult:
    """The records of every run under ``out_dir/runs`` (for reports)."""
    runs = Path(out_dir) / "runs"
    if not runs.is_dir():
        raise ConfigError(f"{out_dir} is not a sweep directory (no runs/ folder); run `neuromorph sweep` first")
    results = SweepResult()
    for path in sorted(runs.glob("*.json")):
        record = _read_json(path)
        if record is None or "id" not in record:
            raise StorageError(f"{path} is not a run record (truncated or not JSON); delete it and rerun "
                               "`neuromorph sweep` on this directory to redo that run")
        results[record["id"]] = record
    return results


def curves(out_dir: str | Path, record: dict) -> dict[str, np.ndarray]:
    """The learning curves stored in a run's HDF5 file."""
    from neuromorph.storage import read_run

    return read_run(Path(out_dir) / record["h5"]).curves
