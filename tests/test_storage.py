"""Tests of the HDF5 run layout: round trip, atomic writes, and every StorageError case."""

from __future__ import annotations

import io
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from neuromorph.errors import ConfigError, StorageError
from neuromorph.storage import FORMAT, RunRecord, package_versions, read_run, write_run


def make_record(seed: int = 7, n_iter: int = 5) -> RunRecord:
    rng = np.random.default_rng(seed)
    t, b, n_in, n, o = 20, 2, 6, 5, 1
    blob = io.BytesIO()
    torch.save({"w": torch.arange(3.0), "iteration": n_iter}, blob)
    return RunRecord(
        config_toml='[task]\nname = "sine"\n\n[network]\nn_rec = 5  # naïve ünïcode\n',
        seed=seed,
        versions={"numpy": np.__version__, "python": "3.11.0"},
        status="running",
        iteration=n_iter,
        curves={
            "loss": rng.random(n_iter).astype(np.float32) + 0.1,
            "accuracy": rng.random(n_iter),
        },
        params={
            "w_in": rng.standard_normal((n, n_in)).astype(np.float32),
            "w_rec": rng.standard_normal((n, n)),
            "bias": np.zeros(n, dtype=np.float32),
        },
        last={
            "inputs": (rng.random((t, b, n_in)) < 0.3).astype(np.float32),
            "spikes": (rng.random((t, b, n)) < 0.2).astype(np.uint8),
            "output": rng.standard_normal((t, b, o)).astype(np.float32),
            "target": rng.standard_normal((t, b, o)).astype(np.float32),
            "mask": np.ones((t, b), dtype=np.float32),
        },
        rule_state={
            "pre_trace_in": rng.random((t, n_in)),
            "eligibility": rng.random((t, n, n_in)).astype(np.float32),
            "custom_trace": np.arange(t, dtype=np.int32),
        },
        attrs={"dt": 1e-3, "loss": "regression", "rule": "eprop", "n_rec": 5},
        checkpoint=blob.getvalue(),
    )


def assert_records_equal(a: RunRecord, b: RunRecord) -> None:
    assert (a.config_toml, a.seed, a.versions, a.status, a.iteration, a.error) == (
        b.config_toml, b.seed, b.versions, b.status, b.iteration, b.error,
    )
    assert a.attrs == b.attrs
    assert {k: type(v) for k, v in a.attrs.items()} == {k: type(v) for k, v in b.attrs.items()}
    for group in ("curves", "params", "last", "rule_state"):
        left, right = getattr(a, group), getattr(b, group)
        assert left.keys() == right.keys(), group
        for name in left:
            assert left[name].dtype == right[name].dtype, (group, name)
            np.testing.assert_array_equal(left[name], right[name], err_msg=f"{group}/{name}")
    assert a.checkpoint == b.checkpoint


def test_round_trip_equality(tmp_path: Path) -> None:
    record = make_record()
    path = write_run(tmp_path / "run.h5", record)
    back = read_run(path, with_checkpoint=True)
    assert_records_equal(record, back)
    state = torch.load(io.BytesIO(back.checkpoint), weights_only=True)
    assert torch.equal(state["w"], torch.arange(3.0))


def test_layout_and_root_attrs(tmp_path: Path) -> None:
    record = make_record()
    record.status, record.error = "failed", "NonFiniteError: NaN in w_rec at iteration 5"
    path = write_run(tmp_path / "nested" / "dir" / "run.h5", record)
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == FORMAT and f.attrs["format_version"] == 1
        assert f.attrs["status"] == "failed" and f.attrs["iteration"] == 5 and f.attrs["seed"] == 7
        assert "T" in f.attrs["created"]
        assert f.attrs["error"].startswith("NonFiniteError")
        for name in ("config", "versions", "attrs", "curves/loss", "params/w_in", "last/spikes",
                     "rule_state/eligibility", "checkpoint/blob"):
            assert name in f, name
        assert f["last/spikes"].dtype == np.uint8
    back = read_run(path)
    assert back.checkpoint is None, "the blob is only loaded on request"
    assert back.error == record.error and back.status == "failed"


def test_float_spikes_are_stored_as_uint8_and_non_binary_rejected(tmp_path: Path) -> None:
    record = make_record()
    spikes = record.last["spikes"].astype(np.float32)
    record.last["spikes"] = spikes
    back = read_run(write_run(tmp_path / "run.h5", record))
    assert back.last["spikes"].dtype == np.uint8
    np.testing.assert_array_equal(back.last["spikes"], spikes)
    record.last["spikes"] = spikes * 2.0
    with pytest.raises(ConfigError, match="spikes"):
        write_run(tmp_path / "bad.h5", record)
    assert not (tmp_path / "bad.h5").exists()


def test_rewrite_replaces_and_keeps_created(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    write_run(path, make_record(n_iter=3))
    with h5py.File(path, "r") as f:
        created = f.attrs["created"]
    record = make_record(n_iter=9)
    record.status, record.checkpoint = "complete", None
    write_run(path, record)
    back = read_run(path, with_checkpoint=True)
    assert back.iteration == 9 and back.status == "complete" and back.checkpoint is None
    assert back.curves["loss"].shape == (9,)
    with h5py.File(path, "r") as f:
        assert f.attrs["created"] == created
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]


def test_failed_write_leaves_old_file_intact_and_no_temp_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run.h5"
    old = make_record(seed=1, n_iter=2)
    write_run(path, old)
    before = path.read_bytes()

    original = h5py.Group.create_dataset
    calls = {"n": 0}

    def failing_create_dataset(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # fail mid-write, after config and some arrays were written
            raise RuntimeError("simulated crash mid-write")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", failing_create_dataset)
    with pytest.raises(StorageError, match="simulated crash"):  # h5py raises RuntimeError, not OSError
        write_run(path, make_record(seed=2, n_iter=8))
    monkeypatch.undo()

    assert calls["n"] == 4
    assert path.read_bytes() == before
    assert_records_equal(read_run(path, with_checkpoint=True), old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]


def test_failed_os_replace_is_a_storage_error_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run.h5"
    write_run(path, make_record(seed=1))

    def no_replace(src: str, dst: str) -> None:
        raise PermissionError(f"cannot replace {dst}")

    monkeypatch.setattr(os, "replace", no_replace)
    with pytest.raises(StorageError, match="could not write run file"):
        write_run(path, make_record(seed=2))
    monkeypatch.undo()
    assert read_run(path).seed == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no run file at"):
        read_run(tmp_path / "absent.h5")


def test_directory_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="is not a file"):
        read_run(tmp_path)


def test_random_bytes_file(tmp_path: Path) -> None:
    path = tmp_path / "noise.h5"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(StorageError, match="not a readable HDF5 run file"):
        read_run(path)


def test_truncated_run_file(tmp_path: Path) -> None:
    path = write_run(tmp_path / "run.h5", make_record())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StorageError):
        read_run(path)


def test_foreign_hdf5_file(tmp_path: Path) -> None:
    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=np.arange(10))
        f.attrs["format"] = "nir"
    with pytest.raises(StorageError, match="not a neuromorph run.*format='nir'"):
        read_run(path)
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=np.arange(10))
    with pytest.raises(StorageError, match="not a neuromorph run.*format=None"):
        read_run(path)


def test_future_format_version(tmp_path: Path) -> None:
    path = write_run(tmp_path / "run.h5", make_record())
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = 2
    with pytest.raises(StorageError, match="format_version=2.*upgrade neuromorph"):
        read_run(path)


@pytest.mark.parametrize("missing", ["params", "curves/loss", "config", "rule_state"])
def test_missing_required_entry_is_named(tmp_path: Path, missing: str) -> None:
    path = write_run(tmp_path / "run.h5", make_record())
    with h5py.File(path, "r+") as f:
        del f[missing]
    with pytest.raises(StorageError, match=f"required '/{missing}' is missing"):
        read_run(path)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"status": "done"}, "status"),
        ({"seed": -1}, "seed"),
        ({"iteration": -2}, "iteration"),
        ({"curves": {"accuracy": np.ones(3)}}, "'loss'"),
        ({"params": {"a/b": np.ones(3)}}, "params key"),
        ({"attrs": {"dt": [1e-3]}}, "attrs"),
        ({"checkpoint": "not bytes"}, "checkpoint"),
    ],
)
def test_invalid_record_is_rejected_before_writing(
    tmp_path: Path, change: dict, match: str
) -> None:
    record = make_record()
    for key, value in change.items():
        setattr(record, key, value)
    with pytest.raises(ConfigError, match=match):
        write_run(tmp_path / "run.h5", record)
    assert list(tmp_path.iterdir()) == []


def test_package_versions() -> None:
    versions = package_versions()
    assert versions["numpy"] == np.__version__
    assert versions["h5py"] == h5py.__version__
    assert versions["torch"].startswith(torch.__version__.split("+")[0])
    assert versions["python"].count(".") == 2
    import brian2
    import numba

    assert versions["numba"] == numba.__version__ and versions["brian2"] == brian2.__version__  # the backends' too
    assert set(versions) <= {"neuromorph", "torch", "norse", "numpy", "h5py", "scipy", "numba", "brian2", "nir",
                             "neurogym", "dask", "distributed", "matplotlib", "python"}
    assert all(isinstance(v, str) and v for v in versions.values())


def test_a_state_tree_round_trips_through_hdf5_bit_for_bit(tmp_path):
    """:mod:`neuromorph.storage.tree`: every kind of node comes back as written (types, dtypes, float bits, key
    types and order); an unknown object is refused at writing."""
    from neuromorph.storage.tree import read_tree, write_tree

    state = {"w": torch.randn(3, 4, dtype=torch.float64), "g": torch.Generator().manual_seed(3).get_state(),
             "half": torch.tensor([0.1, 0.2], dtype=torch.float32), 0: {"step": torch.tensor(5.0)},
             "groups": [{"lr": 0.1 + 1e-17, "betas": (0.9, 0.999), "params": [0, 1], "foreach": None, "fused": False,
                         "name": "adamw"}], "curve": np.arange(4.0), "n": 2**40, "#odd/key": "x", "empty": []}
    with h5py.File(tmp_path / "t.h5", "w") as f:
        write_tree(f, "state", state)
    with h5py.File(tmp_path / "t.h5", "r") as f:
        back = read_tree(f["state"])
    assert list(back) == list(state)
    assert torch.equal(back["w"], state["w"]) and back["w"].dtype == torch.float64
    assert torch.equal(back["g"], state["g"]) and back["g"].dtype == torch.uint8
    assert back["half"].dtype == torch.float32 and torch.equal(back["half"], state["half"])
    assert torch.equal(back[0]["step"], state[0]["step"])
    assert back["groups"] == state["groups"] and isinstance(back["groups"][0]["betas"], tuple)
    assert np.array_equal(back["curve"], state["curve"]) and back["n"] == 2**40 and back["#odd/key"] == "x"
    assert back["empty"] == []
    with h5py.File(tmp_path / "u.h5", "w") as f, pytest.raises(ConfigError, match="cannot store a object"):
        write_tree(f, "bad", {"x": object()})
