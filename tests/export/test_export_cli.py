"""``neuromorph export RUN.h5 --nir / --chip-image``: files from real (small) training runs, and refusals."""

from __future__ import annotations

import numpy as np
import pytest

from neuromorph.cli import main
from neuromorph.errors import StorageError
from neuromorph.export import from_nir, read_nir
from neuromorph.export.chip_image import read_chip_image
from neuromorph.storage import read_run

SMALL = ["task.n_steps=60", "task.n_in=8", "network.n_rec=10", "train.iterations=3", "train.checkpoint_every=3",
         "train.precision=\"float64\"", "rule.update_interval=20"]
CHIP = "models/eprop_sine_chip.toml"


def train(tmp, name, *extra, card=CHIP):
    out = tmp / f"{name}.h5"
    args = ["train", card, "--out", str(out), "--no-progress", *extra]
    for item in SMALL if card == CHIP else [s for s in SMALL if not s.startswith("rule.")]:
        args += ["--set", item]
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("runs")
    return {"on_chip": train(tmp, "l2", "--profile", "loihi2"),
            "offline": train(tmp, "l2off", "--profile", "loihi2", "--mode", "offline"),
            "plain": train(tmp, "plain")}


def test_nir_of_a_run_round_trips(runs, tmp_path):
    assert main(["export", str(runs["plain"]), "--nir", str(tmp_path / "n.nir")]) == 0
    record = read_run(runs["plain"])
    spec, params = from_nir(tmp_path / "n.nir")
    assert (spec.n_in, spec.n_rec, spec.n_out, spec.dt) == (8, 10, 1, 1e-3)
    assert spec.neuron.input_scaling and spec.readout.output_scaling  # as in the card
    for name in ("w_in", "w_rec", "w_out", "bias", "b_out"):
        np.testing.assert_array_equal(getattr(params, name).numpy(), record.params[name])


def test_nir_of_a_profile_run_names_the_profile(runs, tmp_path):
    assert main(["export", str(runs["on_chip"]), "--nir", str(tmp_path / "c.nir")]) == 0
    meta = read_nir(tmp_path / "c.nir").metadata
    assert meta["trained_under_profile"] == "loihi2" and meta["hardware_mode"] == "on_chip"
    assert "integer arithmetic" in meta["hardware_note"]


def test_chip_image_integers_reproduce_on_chip_weights_exactly(runs, tmp_path):
    out = tmp_path / "img.h5"
    assert main(["export", str(runs["on_chip"]), "--chip-image", str(out)]) == 0
    image, record = read_chip_image(out), read_run(runs["on_chip"])
    assert image.profile == "loihi2" and image.mode == "on_chip" and image.attrs["param_dtype"] == "float64"
    assert set(image.mantissas) >= {"w_in", "w_rec", "w_out"}
    v_th, lsb, shift = 0.03, 2**21, 6  # card v_th; loihi2 threshold_lsb and weight shift
    s = 1 - np.exp(-1e-3 / 30e-3)  # input_scaling: drive scale folded into the weights
    for name, k in image.mantissas.items():
        a = image.weight_attrs[name]
        assert k.dtype == np.int32 and np.abs(k).max() <= 2 ** a["bits"] - 1 == 255
        np.testing.assert_array_equal(image.weight(name), record.params[name])  # integers x step, bit for bit
        assert a["step"] == pytest.approx(v_th / lsb / s * 2.0 ** (shift + a["exponent"]), rel=1e-12)
        if name != "w_out":  # the readout's exponent is free (read by the host)
            assert -8 <= a["exponent"] <= 7
    assert image.state["kind"] == "int" and image.state["bits"] == 23 and image.traces["pre"]["bits"] == 7
    assert "b_out" in image.floats


def test_chip_image_of_an_offline_run_is_the_nearest_grid_point(runs, tmp_path):
    out = tmp_path / "off.h5"
    assert main(["export", str(runs["offline"]), "--chip-image", str(out)]) == 0
    image, record = read_chip_image(out), read_run(runs["offline"])
    assert image.mode == "offline"
    for name in ("w_in", "w_rec"):
        step, w = image.weight_attrs[name]["step"], record.params[name]
        np.testing.assert_array_equal(image.mantissas[name], np.clip(np.round(w / step), -255, 255))
        inside = np.abs(image.mantissas[name]) < 255
        assert np.abs(image.weight(name) - w)[inside].max() <= step / 2 + 1e-15
        if not inside.all():  # saturated: only when the exponent is already at the profile's top (7)
            assert image.weight_attrs[name]["exponent"] == 7 and np.abs(w[~inside]).min() >= 254.5 * step


def one_line_error(capsys, argv, match):
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("neuromorph: error:") and "\n" not in err and match in err, err


def test_refusals(runs, tmp_path, capsys):
    one_line_error(capsys, ["export", str(runs["plain"]), "--chip-image", str(tmp_path / "x.h5")],
                   "without a hardware profile")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not a run")
    one_line_error(capsys, ["export", str(junk), "--nir", str(tmp_path / "x.nir")], "not a readable HDF5 run")
    one_line_error(capsys, ["export", str(runs["plain"])], "--nir")
    assert not (tmp_path / "x.h5").exists() and not (tmp_path / "x.nir").exists()
    with pytest.raises(StorageError, match="chip image"):
        read_chip_image(runs["plain"])


def test_ideal_profile_has_no_chip_image(tmp_path, capsys):
    run = train(tmp_path, "ideal", "--profile", "ideal", "--set", "train.iterations=1", "--set", "train.checkpoint_every=1")
    one_line_error(capsys, ["export", str(run), "--chip-image", str(tmp_path / "i.h5")], "quantises nothing")
    assert not (tmp_path / "i.h5").exists()


def test_alif_run_is_refused_for_nir(tmp_path, capsys):
    run = train(tmp_path, "alif", "--set", "network.neuron.model=\"alif\"", "--set", "train.iterations=1",
                "--set", "train.checkpoint_every=1")
    one_line_error(capsys, ["export", str(run), "--nir", str(tmp_path / "a.nir")], "cannot express ALIF")
    assert not (tmp_path / "a.nir").exists()
