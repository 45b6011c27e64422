"""Sweeps that cannot lose or mix results: ids from the full point, duplicates refused, a changed sweep
file refused for an existing directory, a deleted run file re-run, one permission for every output."""

from __future__ import annotations

import json
import stat

import pytest

from neuromorph.errors import ConfigError, StorageError
from neuromorph.sweep import run_sweep
from neuromorph.sweep.run import read_results
from neuromorph.sweep.spec import load_sweep
from tests.robustness.helpers import ROOT, one_line_error

SWEEP = """
[sweep]
iterations = {iterations}
batch_size = 2

[sweep.cards]
romo = "{card}"

[sweep.grid]
gain = {gains}
lr = [3e-3]
seed = {seeds}
rule = ["eprop"]

[sweep.set]
"network.n_rec" = 6
"train.checkpoint_every" = 10

[sweep.lyapunov]
k = 2
warmup = 2
batch_size = 2
"""

#: Eight gains that differ only in the 8th decimal: ``{:g}`` prints all of them as 0.5.
CLOSE_GAINS = [0.5 + i * 1e-8 for i in range(8)]


def _sweep(tmp_path, gains=CLOSE_GAINS, seeds="[0]", iterations=1, name="sweep.toml"):
    path = tmp_path / name
    path.write_text(SWEEP.format(iterations=iterations, gains=json.dumps(gains), seeds=seeds,
                                 card=ROOT / "models" / "gain_romo_eprop.toml"))
    return path


def test_eight_points_that_print_alike_run_eight_runs(tmp_path):
    sweep = _sweep(tmp_path)
    points = load_sweep(sweep).points()
    assert len({f"{p.gain:g}" for p in points}) == 1  # the old ids (g0.5) would all collide
    assert len({p.id for p in points}) == 8 and all(p.id.startswith("romo-eprop-g0.5-lr0.003-s0-") for p in points)
    results = run_sweep(sweep, tmp_path / "out", serial=True, progress=False)
    assert len(results) == 8 and not results.failed and not any(r.get("skipped") for r in results.values())
    assert len(list((tmp_path / "out" / "runs").glob("*.h5"))) == 8


@pytest.mark.parametrize("gains,seeds", [([0.5, 0.5], "[0]"), ([0.5], "[0, 0, 1]"), ([1, 1.0], "[0]")])
def test_duplicate_grid_points_are_refused(gains, seeds, tmp_path):
    with pytest.raises(ConfigError, match=r"\[sweep.grid\] holds the point .* twice"):
        load_sweep(_sweep(tmp_path, gains=gains, seeds=seeds))


def test_a_changed_sweep_file_is_refused_for_an_existing_directory_unless_force(tmp_path, capsys):
    out = tmp_path / "out"
    first = run_sweep(_sweep(tmp_path, gains=[0.5], iterations=1), out, serial=True, progress=False)
    changed = _sweep(tmp_path, gains=[0.5], iterations=2, name="sweep2.toml")
    one_line_error(capsys, ["sweep", str(changed), "--out", str(out), "--serial", "--no-progress"],
                   "different sweep file", "--force")
    again = run_sweep(changed, out, serial=True, progress=False, force=True)
    (run_id,) = again
    assert set(first) == set(again) and not again[run_id].get("skipped")  # same point, another card: redone
    from neuromorph.storage import read_run

    assert read_run(out / again[run_id]["h5"]).iteration == 2


def test_a_deleted_or_truncated_run_file_is_rerun(tmp_path):
    sweep, out = _sweep(tmp_path, gains=[0.5, 1.0]), tmp_path / "out"
    first = run_sweep(sweep, out, serial=True, progress=False)
    deleted, truncated = sorted(first)
    (out / first[deleted]["h5"]).unlink()
    json_path = out / "runs" / f"{truncated}.json"
    json_path.write_text(json_path.read_text()[:20])
    second = run_sweep(sweep, out, serial=True, progress=False)
    assert not second[deleted].get("skipped") and not second[truncated].get("skipped")
    assert (out / first[deleted]["h5"]).exists() and not second.failed


def test_a_truncated_run_record_in_the_report_is_one_line(tmp_path, capsys):
    out = tmp_path / "out"
    first = run_sweep(_sweep(tmp_path, gains=[0.5]), out, serial=True, progress=False)
    (run_id,) = first
    json_path = out / "runs" / f"{run_id}.json"
    json_path.write_text('{"id": "x", "sta')
    with pytest.raises(StorageError, match="not a run record"):
        read_results(out)
    one_line_error(capsys, ["sweep-report", str(out)], str(json_path))


def test_run_records_and_run_files_have_the_same_permissions(tmp_path):
    out = tmp_path / "out"
    (run_id,) = run_sweep(_sweep(tmp_path, gains=[0.5]), out, serial=True, progress=False)
    modes = {p.suffix: stat.S_IMODE(p.stat().st_mode) for p in (out / "runs").iterdir()}
    assert set(modes) == {".json", ".h5"} and modes[".json"] == modes[".h5"]
    assert stat.S_IMODE((out / "sweep.toml").stat().st_mode) == modes[".h5"]


def test_ctrl_c_while_the_dask_cluster_starts_stops_the_sweep(tmp_path, monkeypatch):
    """A SIGINT that arrives while LocalCluster starts its workers (where dask used to swallow it) ends
    the sweep with KeyboardInterrupt before any run, and the cluster is closed."""
    import os
    import signal

    import distributed

    closed = []

    class StartsThenInterrupted:  # stands in for the cluster start-up; the real SIGINT is delivered meanwhile
        def __init__(self, **kwargs):
            os.kill(os.getpid(), signal.SIGINT)

        def close(self):
            closed.append(True)

    monkeypatch.setattr(distributed, "LocalCluster", StartsThenInterrupted)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as under `neuromorph sweep`
    try:
        with pytest.raises(KeyboardInterrupt):
            run_sweep(_sweep(tmp_path), tmp_path / "out", progress=False, n_workers=1)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert closed == [True]
    assert not list((tmp_path / "out" / "runs").glob("*.h5"))
