"""Sweeps on dask.distributed: a killed worker, resume, recorded failures, the report and the CLI."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from neuromorph.cli import main
from neuromorph.storage import read_run
from neuromorph.sweep import load_sweep, read_results, run_sweep, sweep_report

distributed = pytest.importorskip("distributed")
ROOT = Path(__file__).resolve().parents[2]

SWEEP = """
[sweep]
iterations = {iterations}
batch_size = 8

[sweep.cards]
romo = "{card}"

[sweep.grid]
gain = [0.5, 1.5]
lr = {lr}
seed = {seeds}
rule = ["bptt", "eprop"]
flossing = [false, true]

[sweep.set]
"network.n_rec" = 12
"train.checkpoint_every" = 10

[sweep.lyapunov]
k = 4
warmup = 5
batch_size = 8

[sweep.flossing]
iterations = 5
k = 4
batch_size = 4
"""


def _sweep_file(tmp_path: Path, iterations=40, lr="[3e-3]", seeds="[0]") -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP.format(iterations=iterations, lr=lr, seeds=seeds, card=ROOT / "models/gain_romo_eprop.toml"))
    return path


def _outcome(out: Path) -> dict:
    """What must not depend on where a run ran: status, spectra, and the loss curve."""
    results = read_results(out)
    return {
        k: (r["status"], r.get("lyapunov_before"), r.get("lyapunov_flossed"), r.get("lyapunov_after"),
            read_run(out / r["h5"]).curves["loss"].tolist() if r["status"] == "complete" else None)
        for k, r in results.items()
    }


def test_sweep_survives_a_killed_worker_and_equals_a_serial_run(tmp_path):
    sweep = _sweep_file(tmp_path)
    assert len(load_sweep(sweep).points()) == 6  # 2 gains x (bptt, eprop, eprop + flossing)
    serial = run_sweep(sweep, tmp_path / "serial", serial=True, progress=False)
    assert not serial.failed and len(serial) == 6

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                       silence_logs=50)
    killed = {}
    try:
        with distributed.Client(cluster) as client:
            def kill_a_busy_worker(record):
                if killed:
                    return
                deadline = time.time() + 10
                while time.time() < deadline:
                    busy = {w: len(keys) for w, keys in client.processing().items() if keys}
                    if busy:
                        worker = next(iter(busy))
                        pid = client.run(os.getpid, workers=[worker])[worker]
                        os.kill(pid, signal.SIGKILL)
                        killed.update(worker=worker, pid=pid, remaining=busy[worker])
                        return
                    time.sleep(0.05)

            result = run_sweep(sweep, tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False,
                               on_result=kill_a_busy_worker)
            assert killed and killed["remaining"] >= 1  # the worker died with a run in progress
            client.wait_for_workers(2, timeout=30)
            assert killed["pid"] not in client.run(os.getpid).values()  # the nanny started a fresh process
    finally:
        cluster.close()
    assert not result.failed and len(result) == 6
    assert _outcome(tmp_path / "dask") == _outcome(tmp_path / "serial")


def test_resume_skips_finished_runs_and_a_failed_run_does_not_stop_the_sweep(tmp_path):
    sweep = _sweep_file(tmp_path, iterations=8, lr="[3e-3, 1e30]", seeds="[0, 1]")  # lr 1e30 diverges
    out = tmp_path / "out"
    first = run_sweep(sweep, out, serial=True, progress=False)
    assert len(first) == 24 and len(first.failed) == 12
    assert all("lr1e+30" in k for k in first.failed)
    failed = json.loads((out / "runs" / f"{first.failed[0]}.json").read_text())
    assert failed["status"] == "failed" and failed["error"].startswith("NonFiniteError")
    assert read_run(out / failed["h5"]).status == "failed"
    done = [k for k in first if k not in first.failed]
    stamps = {k: (out / "runs" / f"{k}.h5").stat().st_mtime_ns for k in done}
    second = run_sweep(sweep, out, serial=True, progress=False)
    assert all(second[k].get("skipped") for k in done)
    assert not any(second[k].get("skipped") for k in first.failed)  # failed runs are retried
    assert stamps == {k: (out / "runs" / f"{k}.h5").stat().st_mtime_ns for k in done}

    paths = sweep_report(out)
    assert {p.name for p in paths} == {"gain_loss_romo.png", "gain_lyapunov.png", "gain_flossing.png", "summary.json"}
    summary = json.loads((out / "summary.json").read_text())
    units = summary.pop("units")
    assert "1/step" in units["le_max_before"] and "1/step" in first[done[0]]["units"]["lyapunov_before"]
    assert set(summary) == {f"romo/{r}/{g}/{f}" for r, g, f in [("bptt", 0.5, False), ("bptt", 1.5, False),
                                                                 ("eprop", 0.5, False), ("eprop", 1.5, False),
                                                                 ("eprop", 0.5, True), ("eprop", 1.5, True)]}
    assert all(v["lr"] == 3e-3 and v["seeds"] == [0, 1] for v in summary.values())  # the diverging lr is never picked
    lam = [np.asarray(first[k]["lyapunov_before"]) for k in done]
    assert all(np.all(np.diff(x) <= 0.05) for x in lam)  # descending (up to finite-time noise)


@pytest.mark.parametrize("args,message", [
    (["sweep", "missing.toml", "--out", "d"], "sweep file missing.toml does not exist"),
    (["sweep", "{bad_key}", "--out", "d"], "unknown key [sweep.grid] 'gains'"),
    (["sweep", "{good}", "--out", "d", "--scheduler", "localhost"], "--scheduler must be an address"),
    (["sweep", "{good}", "--out", "d", "--workers", "0"], "--workers must be >= 1"),
    (["sweep-report", "{tmp}"], "is not a sweep directory"),
])
def test_cli_bad_input_is_one_line(tmp_path, capsys, args, message):
    good = _sweep_file(tmp_path, iterations=2)
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace("gain = ", "gains = "))
    args = [a.format(bad_key=bad, good=good, tmp=tmp_path) for a in args]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_sweep_and_report(tmp_path, capsys):
    sweep = _sweep_file(tmp_path, iterations=3)
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "o"), "--serial", "--no-progress"]) == 0
    assert "6 runs (0 already done), 0 failed" in capsys.readouterr().out
    # again on the default LocalCluster (one worker process): every run is found done and skipped there
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "o"), "--workers", "1", "--no-progress"]) == 0
    assert "6 runs (6 already done)" in capsys.readouterr().out
    assert main(["sweep-report", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "gain_lyapunov.png").exists()


def test_missing_dask_is_one_clear_error(tmp_path, monkeypatch):
    import sys

    from neuromorph.errors import ConfigError

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ConfigError, match=r"'sweep' extra .*--serial"):
        run_sweep(_sweep_file(tmp_path, iterations=1), tmp_path / "o", progress=False)


def test_set_overrides_edit_the_sweep_file_or_every_run_s_card():
    """``neuromorph sweep --set``: a sweep. key edits the file; any other key is set in every run's card, last."""
    from neuromorph.sweep.spec import load_sweep

    sweep = load_sweep("gain_smoke", check=False, overrides={"sweep.grid.seed": [5], "train.iterations": 3,
                                                             "network.n_rec": 12})
    assert {p.seed for p in sweep.points()} == {5}
    spec = sweep.run_spec(sweep.points()[0])  # [sweep] iterations = 300 and [sweep.set] n_rec = 32 lose
    assert spec.train.iterations == 3 and spec.network.n_rec == 12 and spec.train.seed == 5
