"""Chip runs do not depend on the process: bit-identical under any PYTHONHASHSEED, and a run
interrupted in one process and resumed in another equals the uninterrupted run.

Under stochastic rounding (loihi2) the chip's generator draws one number per updated weight in the
order the targets are visited; that order was a frozenset's (hash order) before issue 20.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from neuromorph.storage import read_run
from tests.robustness.helpers import ROOT

SETS = ["task.n_steps=80", "task.n_in=10", "network.n_rec=12", "train.iterations=6", "train.checkpoint_every=2",
        "rule.update_interval=20", "hardware.rounding='stochastic'"]
CARD = str(ROOT / "models" / "eprop_sine_chip.toml")

#: Train CARD under loihi2 in a fresh process; with INTERRUPT_AT set, Ctrl-C arrives at that iteration.
SCRIPT = """
import os, sys
from neuromorph import experiment
from neuromorph.cli import main
stop = os.environ.get("INTERRUPT_AT")
if stop:
    real = experiment._iteration
    def crash(spec, run):
        if run.iteration == int(stop):
            raise KeyboardInterrupt
        return real(spec, run)
    experiment._iteration = crash
sys.exit(main(sys.argv[1:]))
"""


def _train(out, hash_seed: str, interrupt_at: int | None = None) -> int:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": "1"}
    env.pop("INTERRUPT_AT", None)
    if interrupt_at is not None:
        env["INTERRUPT_AT"] = str(interrupt_at)
    args = [sys.executable, "-c", SCRIPT, "train", CARD, "--profile", "loihi2", "--out", str(out), "--no-progress"]
    for item in SETS:
        args += ["--set", item]
    return subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True).returncode


def _same(a, b) -> None:
    ra, rb = read_run(a), read_run(b)
    np.testing.assert_array_equal(ra.curves["loss"], rb.curves["loss"])
    assert sorted(ra.params) == sorted(rb.params)
    for name in ra.params:
        np.testing.assert_array_equal(ra.params[name], rb.params[name], err_msg=name)


def test_a_loihi2_run_is_bit_identical_under_two_hash_seeds_and_across_a_resume(tmp_path):
    first, second, resumed = tmp_path / "h1.h5", tmp_path / "h2.h5", tmp_path / "resumed.h5"
    assert _train(first, "1") == 0
    assert _train(second, "2") == 0
    _same(first, second)
    assert _train(resumed, "3", interrupt_at=3) == 130
    assert read_run(resumed).status == "running" and read_run(resumed).iteration == 2  # the last checkpoint
    assert _train(resumed, "4") == 0
    _same(first, resumed)
