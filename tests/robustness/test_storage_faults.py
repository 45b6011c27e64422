"""Storage that fails cleanly: every OS or h5py failure is a StorageError naming the file and the fix,
the previous file stays intact, and temporaries of killed writers are removed by the next write."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from neuromorph.errors import StorageError
from neuromorph.storage import RunRecord, atomic_hdf5, open_results, read_run, write_run
from neuromorph.storage.atomic import remove_stale_temps, temp_name

#: The text h5py gives a full disk: a RuntimeError (not an OSError) carrying the errno.
H5PY_DISK_FULL = ("Can't write data (file write failed: time = Wed Dec  2 00:00:00 2026, filename = 'x', "
                  "file descriptor = 5, errno = 28, error message = 'No space left on device')")


def record(seed: int = 0) -> RunRecord:
    return RunRecord(config_toml="[task]\n", seed=seed, versions={"x": "1"}, status="running", iteration=2,
                     curves={"loss": np.arange(2.0)}, params={"w": np.ones((3, 3))}, last={}, rule_state={},
                     attrs={"dt": 1e-3})


def _fail_datasets(monkeypatch, exc: BaseException) -> None:
    def failing(self, *args, **kwargs):
        raise exc

    monkeypatch.setattr(h5py.Group, "create_dataset", failing)


@pytest.mark.parametrize("exc,fix", [(RuntimeError(H5PY_DISK_FULL), "disk is full"),
                                     (OSError(errno.ENOSPC, "No space left on device"), "disk is full"),
                                     (PermissionError(errno.EACCES, "Permission denied"), "permissions")])
def test_a_write_failure_is_a_storage_error_naming_file_and_fix(exc, fix, tmp_path, monkeypatch):
    path = tmp_path / "run.h5"
    write_run(path, record(seed=1))
    before = path.read_bytes()
    _fail_datasets(monkeypatch, exc)
    with pytest.raises(StorageError) as info:
        write_run(path, record(seed=2))
    monkeypatch.undo()
    assert str(path) in str(info.value) and fix in str(info.value) and "\n" not in str(info.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]


def test_a_failing_fsync_is_a_storage_error(tmp_path, monkeypatch):
    path = tmp_path / "run.h5"

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(StorageError, match="disk is full"):
        write_run(path, record())
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_a_results_file_write_failure_is_a_storage_error(tmp_path, monkeypatch):
    path = tmp_path / "study.h5"
    _fail_datasets(monkeypatch, RuntimeError(H5PY_DISK_FULL))
    with pytest.raises(StorageError, match="disk is full"):
        with atomic_hdf5(path, "neuromorph-test", 1) as f:
            f.create_dataset("x", data=np.ones(3))
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_an_h5py_runtime_error_on_read_is_a_storage_error(tmp_path, monkeypatch):
    path = tmp_path / "run.h5"
    write_run(path, record())
    import neuromorph.storage.run as run_module

    def broken(*args, **kwargs):
        raise RuntimeError("Can't read data (inflate() failed)")

    monkeypatch.setattr(run_module, "_read_record", broken)
    with pytest.raises(StorageError, match="not a readable HDF5 run file"):
        read_run(path)
    with h5py.File(path, "r+") as f:
        f.attrs["format"] = "neuromorph-test"
    monkeypatch.setattr(h5py.Dataset, "__getitem__", broken)
    with pytest.raises(StorageError, match="not a readable HDF5 file"):
        with open_results(path, "neuromorph-test", 1, "a test file") as f:
            f["curves/loss"][()]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_of_dead_writers_are_removed_by_the_next_write(tmp_path):
    path = tmp_path / "run.h5"
    stale = tmp_path / f"run.h5.tmp{_dead_pid()}-0123abcd"
    live = tmp_path / f"run.h5.tmp{os.getppid()}-89abcdef"  # a running process (pytest's parent): kept
    other = tmp_path / f"other.h5.tmp{_dead_pid()}-0123abcd"  # another target's: not ours to touch
    for p in (stale, live, other):
        p.write_bytes(b"partial")
    write_run(path, record())
    assert not stale.exists() and live.exists() and other.exists()
    assert remove_stale_temps(tmp_path / "other.h5") == [other]


def test_temporary_names_record_the_writer(tmp_path):
    name = temp_name(tmp_path / "a.h5").name
    assert name.startswith(f"a.h5.tmp{os.getpid()}-")


def test_a_second_writer_of_the_same_output_is_refused_naming_the_holder(tmp_path, capsys):
    """A process holding the lock (a child, as a second `neuromorph train` would be) blocks this one."""
    from tests.robustness.helpers import ROOT, one_line_error

    out = tmp_path / "run.h5"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom neuromorph.storage.lock import output_lock\n"
         f"with output_lock({str(out)!r}):\n    print('locked', flush=True)\n    sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "locked"
        line = one_line_error(capsys, ["train", str(ROOT / "models" / "eprop_sine.toml"), "--out", str(out),
                                       "--iterations", "1", "--no-progress"], str(out), f"process {holder.pid}")
        assert "being written" in line and not out.exists()
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    from neuromorph.storage.lock import lock_path, output_lock

    assert not lock_path(out).exists()  # released and removed when the holder ended
    with output_lock(out):  # free again
        with pytest.raises(StorageError, match=f"process {os.getpid()}"):
            with output_lock(out):
                pass
