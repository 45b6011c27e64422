"""``neuromorph export RUN.h5 --brian2-loihi DIR``: the written script runs in a subprocess and reproduces
neuromorph's ``loihi1`` spikes of the run's stored inputs; runs it cannot port are refused in one line."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import numpy as np
import pytest
import torch

from neuromorph.cli import main
from neuromorph.config import resolve
from neuromorph.network import Parameters
from neuromorph.storage import read_run

pytest.importorskip("brian2_loihi")

SMALL = ["task.n_steps=80", "task.n_in=8", "network.n_rec=16", "train.iterations=2", "train.checkpoint_every=2",
         "train.precision=\"float64\"", "rule.update_interval=20"]
CHIP = "models/eprop_sine_chip.toml"


def train(tmp, name, *extra):
    out = tmp / f"{name}.h5"
    args = ["train", CHIP, "--out", str(out), "--no-progress", *extra]
    for item in SMALL:
        args += ["--set", item]
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("b2l_runs")
    # e-prop reads the pseudo-derivative, which Loihi 1's engine cannot: loihi1 trains it offline (host), then deploys
    return {"loihi1": train(tmp, "l1", "--profile", "loihi1", "--mode", "offline"),
            "loihi2": train(tmp, "l2", "--profile", "loihi2"),
            "plain": train(tmp, "plain")}


def neuromorph_spikes(run):
    """The run's deployed loihi1 network simulated by neuromorph's torch backend (float64), on its stored inputs."""
    from neuromorph.backends.torch.simulate import lower, simulate
    from neuromorph.hardware.setup import prepare

    record = read_run(run, with_checkpoint=True)
    spec = resolve(tomllib.loads(record.config_toml), str(run))
    chip = prepare(spec).numerics
    state = record.checkpoint  # /checkpoint/state as a dict
    chip.grids = type(chip.grids)(dict(state["chip_steps"]), dict(state["chip_exponents"]))
    params = Parameters(**{k: torch.from_numpy(record.params[k]).double() for k in Parameters._fields
                           if k in record.params})
    rec = simulate(lower(spec.network, torch.float64, chip), chip.deploy(params),
                   torch.from_numpy(record.last["inputs"]).double())
    return rec.z.numpy().transpose(1, 0, 2)


def test_written_script_reproduces_neuromorph_spikes(runs, tmp_path):
    out = tmp_path / "port"
    assert main(["export", str(runs["loihi1"]), "--brian2-loihi", str(out)]) == 0
    assert (out / "run.py").is_file() and (out / "network.npz").is_file()
    done = subprocess.run([sys.executable, str(out / "run.py"), "--out", str(tmp_path / "spikes.npz")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "identical" in done.stdout
    got = np.load(tmp_path / "spikes.npz")["spikes"]
    expected = neuromorph_spikes(runs["loihi1"])
    assert expected.sum() > 0
    np.testing.assert_array_equal(got, expected)


def one_line_error(capsys, argv, match):
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("neuromorph: error:") and "\n" not in err and match in err, err


def test_refusals(runs, tmp_path, capsys):
    one_line_error(capsys, ["export", str(runs["loihi2"]), "--brian2-loihi", str(tmp_path / "a")],
                   "retrain with --profile loihi1")
    one_line_error(capsys, ["export", str(runs["plain"]), "--brian2-loihi", str(tmp_path / "b")],
                   "--profile loihi1")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
