"""Tests of the run figures: files exist, are valid non-blank PNGs, and missing data is skipped."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from neuromorph.errors import StorageError
from neuromorph.plots import plot_run
from neuromorph.storage import RunRecord, write_run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def regression_record(rng: np.random.Generator) -> RunRecord:
    t, b, n_in, n = 300, 2, 20, 12
    time = np.arange(t) * 1e-3
    target = np.sin(2 * np.pi * time / 0.2)[:, None, None] * np.ones((1, b, 1))
    spikes = (rng.random((t, b, n)) < 0.05).astype(np.uint8)
    return RunRecord(
        config_toml='[task]\nname = "sine"\n',
        seed=0,
        versions={"python": "3.11"},
        status="complete",
        iteration=50,
        curves={"loss": np.exp(-np.linspace(0, 4, 50)) + 0.01},
        params={"w_out": rng.standard_normal((1, n))},
        last={
            "inputs": (rng.random((t, b, n_in)) < 0.05).astype(np.float32),
            "spikes": spikes,
            "output": (target + 0.1 * rng.standard_normal((t, b, 1))).astype(np.float32),
            "target": target.astype(np.float32),
            "mask": np.ones((t, b), dtype=np.float32),
        },
        rule_state={
            "pre_trace_in": rng.random((t, n_in)),
            "post_term": rng.random((t, n)),
            "learning_signal": rng.standard_normal((t, n)),
            "eligibility": rng.random((t, n, n_in)),
        },
        attrs={"dt": 1e-3, "loss": "regression"},
    )


def classification_record(rng: np.random.Generator) -> RunRecord:
    t, b, n = 400, 3, 10
    mask = np.zeros((t, b), dtype=np.float32)
    mask[-100:] = 1.0
    return RunRecord(
        config_toml='[task]\nname = "evidence"\n',
        seed=1,
        versions={},
        status="running",
        iteration=20,
        curves={"loss": np.linspace(0.7, 0.3, 20), "accuracy": np.linspace(0.5, 0.9, 20)},
        params={},
        last={
            "inputs": (rng.random((t, b, 8)) < 0.04).astype(np.float32),
            "spikes": (rng.random((t, b, n)) < 0.03).astype(np.uint8),
            "output": rng.standard_normal((t, b, 2)).astype(np.float32),
            "target": np.ones((t, b), dtype=np.int64),
            "mask": mask,
        },
        rule_state={},
        attrs={"dt": 1e-3, "loss": "classification"},
    )


def assert_png(path: Path, *, not_blank: bool = False) -> None:
    assert path.is_file() and path.stat().st_size > 0
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50
    if not_blank:
        assert np.any(image != image[0, 0]), f"{path.name} is a single colour"


def test_regression_run_writes_all_four_figures(tmp_path: Path) -> None:
    path = write_run(tmp_path / "sine_run.h5", regression_record(np.random.default_rng(0)))
    written = plot_run(path)
    names = [p.name for p in written]
    assert names == [
        "sine_run_curve.png",
        "sine_run_raster.png",
        "sine_run_output.png",
        "sine_run_rule_state.png",
    ]
    for p in written:
        assert p.parent == tmp_path
        assert_png(p, not_blank=True)


def test_classification_run_skips_rule_state(tmp_path: Path) -> None:
    path = write_run(tmp_path / "evidence.h5", classification_record(np.random.default_rng(1)))
    written = plot_run(path)
    assert [p.name for p in written] == [
        "evidence_curve.png",
        "evidence_raster.png",
        "evidence_output.png",
    ]
    for p in written:
        assert_png(p)
    assert not (tmp_path / "evidence_rule_state.png").exists()


def test_minimal_run_writes_only_the_curve(tmp_path: Path) -> None:
    record = RunRecord(
        config_toml="",
        seed=0,
        versions={},
        status="running",
        iteration=0,
        curves={"loss": np.zeros(0)},
        params={},
        last={},
        rule_state={"learning_signal": np.zeros((10, 3))},
        attrs={},
    )
    written = plot_run(write_run(tmp_path / "empty.h5", record))
    assert [p.name for p in written] == ["empty_curve.png", "empty_rule_state.png"]
    for p in written:
        assert_png(p)


def test_plot_run_on_missing_file_raises_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError):
        plot_run(tmp_path / "absent.h5")


def test_compare_curves_draws_one_line_per_run(tmp_path: Path) -> None:
    from neuromorph.plots import compare_curves

    rng = np.random.default_rng(0)
    paths = {}
    for label in ("e-prop", "BPTT"):
        paths[label] = write_run(tmp_path / f"{label}.h5", regression_record(rng))
    out = compare_curves(paths, tmp_path / "both.png")
    assert_png(out, not_blank=True)
