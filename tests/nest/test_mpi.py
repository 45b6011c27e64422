"""The NEST backend under MPI (``mpirun -np P neuromorph train CARD --backend nest``; docs/nest.md, "Threads and MPI").

Three parts:

* the gather helpers of :mod:`neuromorph.backends.nest.mpi` on a fake two-rank split (pure numpy, no MPI);
* the refusal of a NEST without MPI under ``mpirun`` (the launcher's environment variable set and the installed
  NEST's real build, or a real ``mpirun`` where one is installed; needs NEST, skipped without it);
* the real thing: the sine card under ``mpirun -np 2`` with an MPI build of NEST against one process. It needs a
  Python whose NEST is an MPI build, named by ``NEUROMORPH_NEST_MPI_PYTHON`` (docs/nest.md says how to build one),
  and ``mpirun``; it is skipped otherwise: CI installs the PyPI wheel of ``nest-simulator``, which has no MPI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuromorph.backends.nest import mpi
from neuromorph.backends.nest.network import _in_sequences
from neuromorph.backends.nest.support import nest_available
from neuromorph.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


class FakeRanks:
    """Rank ``rank`` of a fake communicator whose other ranks' shares are given (``allgather`` in rank order)."""

    def __init__(self, rank: int, shares: list) -> None:
        self.rank, self.size, self.shares = rank, len(shares), shares

    def allgather(self, obj):
        return [obj if r == self.rank else share for r, share in enumerate(self.shares)]


def _split(post: np.ndarray, ranks: int = 2) -> list[np.ndarray]:
    """NEST's placement: a neuron (and every connection onto it) on rank ``post % ranks`` (round robin)."""
    return [post % ranks == r for r in range(ranks)]


# -- gather helpers ---------------------------------------------------------------------------------------------


def test_weight_matrix_of_two_ranks_is_the_whole_matrix_exactly():
    rng = np.random.default_rng(0)
    full = rng.normal(size=(7, 5)) * 10.0 ** rng.integers(-8, 8, size=(7, 5))
    full[2, 3] = 0.0  # no connection: 0 in the read-back
    post, pre = np.nonzero(full)
    parts = [(post[m], pre[m], full[post, pre][m]) for m in _split(post)]
    assert all(len(p[0]) for p in parts)
    assert np.array_equal(mpi.weight_matrix(parts, full.shape), full)  # copied, not summed: bit for bit
    assert np.array_equal(mpi.weight_matrix(parts[::-1], full.shape), full)  # rank order does not matter


def test_weight_matrix_of_a_rank_without_connections_and_of_one_reported_twice():
    w = np.array([[1.5, -2.0]])
    parts = [mpi.local_triples({}, 10, 20), mpi.local_triples({"source": [20, 21], "target": [10, 10],
                                                               "weight": [1.5, -2.0]}, 10, 20)]
    assert np.array_equal(mpi.weight_matrix(parts, (1, 2)), w)
    with pytest.raises(RuntimeError, match="more than one rank"):
        mpi.weight_matrix([parts[1], parts[1]], (1, 2))


def test_local_triples_of_one_connection_are_arrays():
    """NEST gives scalars for one connection."""
    post, pre, w = mpi.local_triples({"source": 4, "target": 9, "weight": 0.25}, first_post=8, first_pre=3)
    assert post.tolist() == [1] and pre.tolist() == [1] and w.tolist() == [0.25]


def test_gathered_weights_with_a_fake_nest_and_a_fake_second_rank():
    class Node:
        def __init__(self, gid):
            self.global_id = gid

    class Nodes(list):
        pass

    class Conns:
        def __init__(self, d):
            self.d = d

        def __len__(self):
            return len(np.atleast_1d(self.d.get("source", [])))

        def get(self, keys):
            return {k: self.d[k] for k in keys}

    pre, post = Nodes([Node(1), Node(2), Node(3)]), Nodes([Node(11), Node(12)])
    rank0 = {"source": [1, 2, 3], "target": [12, 12, 12], "weight": [0.1, 0.2, 0.3]}  # neuron 12 is on rank 0
    rank1 = mpi.local_triples({"source": [1, 3], "target": [11, 11], "weight": [-1.0, -3.0]}, 11, 1)

    class FakeNest:
        @staticmethod
        def GetConnections(a, b):
            return Conns(rank0)

    w = mpi.gathered_weights(FakeNest, pre, post, FakeRanks(0, [None, rank1]))
    assert np.array_equal(w, [[-1.0, 0.0, -3.0], [0.1, 0.2, 0.3]])


def test_merged_events_of_two_ranks_map_to_the_single_process_raster():
    """Spikes of a fake 5-neuron, 2-sequence batch: split over two ranks (one of them with no events in one
    recorder, NEST's float64 empty arrays), gathered, they give the one-process raster."""
    n_steps, batch, n, res = 6, 2, 5, 1.0
    rng = np.random.default_rng(1)
    times = rng.integers(3, 3 + batch * (n_steps + 2), size=40).astype(np.float64)
    senders = rng.integers(7, 7 + n, size=40)
    whole = _in_sequences(times, senders - 7, np.ones(40), 2, n_steps, batch, n, res)
    assert whole.sum() > 0
    masks = _split(senders)
    shares = [{"times": times[m], "senders": senders[m]} for m in masks]
    for rank in (0, 1):
        got = mpi.gathered_events(type("Recorder", (), {"events": shares[rank]}), ("times", "senders"),
                                  FakeRanks(rank, shares))
        assert got["senders"].dtype == np.int64
        z = _in_sequences(got["times"], got["senders"] - 7, np.ones(len(got["times"])), 2, n_steps, batch, n, res)
        assert np.array_equal(z, whole)
    empty = {"times": np.zeros(0), "senders": np.zeros(0)}  # what NEST gives a recorder without events
    merged = mpi.merge_events([empty, shares[1]], ("times", "senders"))
    assert merged["senders"].dtype == np.int64 and len(merged["senders"]) == masks[1].sum()


def test_single_process_gathers_its_own_share():
    rec = type("Recorder", (), {"events": {"times": np.array([2.0]), "senders": np.array([5])}})
    assert mpi.gathered_events(rec, ("times", "senders"), mpi.SingleProcess())["senders"].tolist() == [5]


# -- launch checks ------------------------------------------------------------------------------------------------


def test_launched_processes_from_the_launchers_variables():
    assert mpi.launched_processes({}) == (1, None)
    assert mpi.launched_processes({"OMPI_COMM_WORLD_SIZE": "4"}) == (4, "OMPI_COMM_WORLD_SIZE")
    assert mpi.launched_processes({"PMI_SIZE": "2"}) == (2, "PMI_SIZE")
    assert mpi.launched_processes({"PMI_SIZE": "x"}) == (1, None)


def test_check_launch_refuses_nest_without_mpi_under_a_launcher():
    mpi.check_launch(1, {})
    mpi.check_launch(2, {"OMPI_COMM_WORLD_SIZE": "2"})
    mpi.check_launch(1, {"OMPI_COMM_WORLD_SIZE": "1"})
    with pytest.raises(ConfigError, match="not MPI-enabled") as info:
        mpi.check_launch(1, {"OMPI_COMM_WORLD_SIZE": "2"})
    assert len(str(info.value).splitlines()) == 1 and "docs/nest.md" in str(info.value)


def test_no_launcher_imports_no_nest():
    def load():
        raise AssertionError("NEST imported without a launcher")

    assert mpi.nest_ranks(load, {}) == (1, 0)


@pytest.mark.skipif(mpi.nest_built_with_mpi() is not False, reason="needs a NEST whose config.h says it has no MPI "
                    "(the PyPI wheel)")
def test_nest_without_mpi_is_refused_before_it_is_imported():
    """NEST 3.10 without MPI would end the process at import under a launcher, with its own message."""
    def load():
        raise AssertionError("NEST imported")

    with pytest.raises(ConfigError, match="not MPI-enabled"):
        mpi.nest_ranks(load, {"OMPI_COMM_WORLD_SIZE": "2"})


@pytest.mark.skipif(not nest_available(), reason="NEST is not installed (pip install 'neuromorph[nest]')")
def test_cli_under_mpirun_with_nest_without_mpi_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    """What ``mpirun -np 2 neuromorph train ...`` with the PyPI wheel does: the launcher's variable is set, the
    installed NEST has no MPI (its config.h, or ``NumProcesses()`` once imported), so the run is refused at setup
    and no file is written."""
    from neuromorph.cli import main

    import nest

    if nest.NumProcesses() != 1:
        pytest.skip("this NEST runs on several processes")
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    out = tmp_path / "run.h5"
    assert main(["train", "models/eprop_sine.toml", "--backend", "nest", "--out", str(out), "--no-progress",
                 "--set", "train.iterations=1"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not MPI-enabled" in err and "OMPI_COMM_WORLD_SIZE=2" in err, err
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not nest_available(), reason="NEST is not installed (pip install 'neuromorph[nest]')")
def test_run_file_records_processes_and_threads_which_do_not_block_a_continuation(tmp_path):
    from neuromorph.config import load_card
    from neuromorph.experiment import train
    from neuromorph.storage import read_run

    tiny = {"optimizer.name": "sgd", "optimizer.lr": 1e-4, "task.n_steps": 20, "task.n_in": 5, "network.n_rec": 6,
            "train.iterations": 2, "train.checkpoint_every": 1, "train.precision": "float64"}
    out = tmp_path / "run.h5"
    first = train(load_card("models/eprop_sine.toml", tiny), out=out, backend="nest", target="2", progress=False)
    assert first.writer and read_run(out).attrs["nest_threads"] == 2 and read_run(out).attrs["nest_processes"] == 1
    more = load_card("models/eprop_sine.toml", {**tiny, "train.iterations": 3})
    again = train(more, resume=out, backend="nest", target="1", progress=False)
    assert again.resumed_from == 2 and read_run(out).attrs["nest_threads"] == 1


@pytest.mark.skipif(not nest_available() or shutil.which("mpirun") is None, reason="needs NEST and mpirun")
def test_real_mpirun_with_nest_without_mpi_is_refused_by_every_rank(tmp_path):
    """``mpirun -np 2`` of this Python, whose NEST (CI's PyPI wheel) has no MPI: each rank refuses in one line."""
    probe = subprocess.run([sys.executable, "-c", "import nest; print(nest.GetKernelStatus('build_info')['have_mpi'])"],
                           capture_output=True, text=True, env={**os.environ, "PYNEST_QUIET": "1"})
    if probe.stdout.strip().splitlines()[-1:] != ["False"]:
        pytest.skip("this Python's NEST is an MPI build")
    out = tmp_path / "run.h5"
    done = subprocess.run([*_mpirun(2), sys.executable, "-m", "neuromorph", "train", "models/eprop_sine.toml",
                           "--backend", "nest", "--out", str(out), "--no-progress", "--set", "train.iterations=1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "PYNEST_QUIET": "1", "OMP_NUM_THREADS": "1"})
    assert done.returncode != 0
    refusals = [line for line in done.stderr.splitlines() if line.startswith("neuromorph: error:")]
    assert len(refusals) == 2 and all("not MPI-enabled" in line and "docs/nest.md" in line for line in refusals), \
        done.stderr
    assert not out.exists()


# -- mpirun -np 2 with an MPI build of NEST -----------------------------------------------------------------------

#: the sine card as tests/nest/test_nest_backend.py shrinks it, 3 iterations (recorded: the last), the readout bias
#: learned too (its current generator, a device on every rank, and its gradient from the gathered readout)
SINE = {"optimizer.name": "sgd", "optimizer.lr": 1e-4, "train.precision": "float64", "train.engine": "torch",
        "task.n_in": 30, "network.n_rec": 30, "task.n_steps": 200, "train.iterations": 3,
        "train.checkpoint_every": 2, "rule.targets": ["w_in", "w_rec", "w_out", "b_out"]}


def _mpi_python() -> str | None:
    """The Python named by NEUROMORPH_NEST_MPI_PYTHON if its NEST is an MPI build, else None."""
    python = os.environ.get("NEUROMORPH_NEST_MPI_PYTHON")
    if not python or shutil.which("mpirun") is None:
        return None
    probe = subprocess.run([python, "-c", "import nest, json; print(json.dumps(nest.GetKernelStatus('build_info')"
                            "['have_mpi']))"], capture_output=True, text=True, env={**os.environ, "PYNEST_QUIET": "1"})
    return python if probe.returncode == 0 and probe.stdout.strip().splitlines()[-1:] == ["true"] else None


MPI_PYTHON = _mpi_python()
needs_mpi_nest = pytest.mark.skipif(
    MPI_PYTHON is None, reason="no MPI build of NEST: set NEUROMORPH_NEST_MPI_PYTHON to a Python whose NEST was built "
    "with -Dwith-mpi=ON, and put mpirun on PATH (docs/nest.md; CI's PyPI wheel of nest-simulator has no MPI)")


def _mpirun(np_: int) -> list[str]:
    version = subprocess.run(["mpirun", "--version"], capture_output=True, text=True).stdout
    extra = (["--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])) if "Open MPI" in version \
        else []
    return ["mpirun", *extra, "-np", str(np_)]


def _train(out: Path, launcher: list[str], threads: int = 1) -> subprocess.CompletedProcess:
    """``neuromorph train`` of this checkout (PYTHONPATH) with the MPI Python, under ``launcher``."""
    argv = [*launcher, MPI_PYTHON, "-m", "neuromorph", "train", "models/eprop_sine.toml", "--backend", "nest",
            "--nest-threads", str(threads), "--out", str(out), "--no-progress"]
    for key, value in SINE.items():
        argv += ["--set", f"{key}={json.dumps(value)}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PYNEST_QUIET": "1"}
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


@needs_mpi_nest
def test_mpirun_np_2_writes_one_run_file_with_the_one_process_numbers(tmp_path):
    """Two ranks, one thread each, against one process with one thread and with two.

    Against one virtual process: losses to 1e-12 relative, spikes identical, weights to 1e-12 of their scale (NEST
    sums a neuron's inputs in the order its virtual processes deliver them, so more than one differs in the last
    bits: measured 1.4e-17, docs/nest.md). Against one process with two threads, the same two virtual processes:
    the same numbers bit for bit, which is what the gather itself must give (every connection read once, copied).
    """
    from neuromorph.storage import read_run

    runs = {name: tmp_path / name / "run.h5" for name in ("p1", "p1t2", "p2")}
    for path in runs.values():
        path.parent.mkdir()
    for name, launcher, threads in (("p1", [], 1), ("p1t2", [], 2), ("p2", _mpirun(2), 1)):
        done = _train(runs[name], launcher, threads)
        assert done.returncode == 0, done.stderr
    assert [p.name for p in runs["p2"].parent.iterdir()] == ["run.h5"]  # one file, no lock left, no rank 1 file
    assert done.stdout.count("run.h5: 3 iterations") == 1, done.stdout  # rank 0 speaks for both
    one, two_threads, two = (read_run(runs[name]) for name in ("p1", "p1t2", "p2"))
    assert (one.attrs["nest_processes"], two.attrs["nest_processes"]) == (1, 2)
    assert one.attrs["nest_threads"] == two.attrs["nest_threads"] == 1 and two_threads.attrs["nest_threads"] == 2
    loss_one, loss_two = one.curves["loss"], two.curves["loss"]
    assert len(loss_two) == 3 and loss_one.dtype == np.float64
    assert np.max(np.abs(loss_one - loss_two) / np.abs(loss_one)) <= 1e-12
    assert np.array_equal(one.last["spikes"], two.last["spikes"]) and one.last["spikes"].sum() > 0
    scale = np.max(np.abs(one.last["output"]))
    assert np.max(np.abs(one.last["output"] - two.last["output"])) <= 1e-12 * scale
    assert np.abs(one.params["b_out"]).min() > 0  # learned: its current was on from the second iteration
    for name in ("w_in", "w_rec", "w_out", "b_out"):
        assert np.max(np.abs(one.params[name] - two.params[name])) <= 1e-12 * np.max(np.abs(one.params[name])), name
        assert np.array_equal(two_threads.params[name], two.params[name]), name
    assert np.array_equal(two_threads.curves["loss"], loss_two)
    assert np.array_equal(two_threads.last["spikes"], two.last["spikes"])
    assert np.array_equal(two_threads.last["output"], two.last["output"])
