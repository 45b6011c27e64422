"""The shipped model cards, hardware profiles and sweep files (neuromorph.data): package data found through
importlib.resources, named from any working directory, with a real file in the working directory winning.

The wheel itself (built, installed into a fresh environment, run from an empty directory) is checked by
``.ci/wheel_smoke.sh``, which ``.ci/run`` calls after the suite.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import neuromorph
from neuromorph.cli import main
from neuromorph.config import load_card
from neuromorph.data import KINDS, find_file, shipped_dir, shipped_file, shipped_names
from neuromorph.errors import ConfigError, HardwareProfileError
from neuromorph.hardware.profile import PROFILE_DIR, load_profile, profile_names
from neuromorph.sweep.spec import load_sweep

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(neuromorph.__file__).resolve().parent


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    """An empty working directory: no models/, hardware_profiles/ or sweeps/ beside it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("kind", KINDS)
def test_the_shipped_files_are_in_the_package_and_the_checkout_links_to_them(kind):
    assert shipped_dir(kind).resolve() == PACKAGE / "data" / kind
    assert (ROOT / kind).is_symlink() and (ROOT / kind).resolve() == shipped_dir(kind)
    assert shipped_names(kind) == sorted(p.stem for p in (ROOT / kind).glob("*.toml"))
    assert len(shipped_names(kind)) >= 4


def test_the_package_data_of_pyproject_covers_every_shipped_file():
    """A new kind of shipped file needs its glob in pyproject.toml, or the wheel would lack it."""
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    data = PACKAGE / "data"
    covered = {p for pattern in globs["neuromorph.data"] for p in data.glob(pattern)}
    shipped = {p for p in data.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".py"}
    assert shipped == covered, shipped ^ covered
    assert PROFILE_DIR == shipped_dir("hardware_profiles")


@pytest.mark.parametrize("name", ["models/eprop_sine.toml", "eprop_sine", "eprop_sine.toml", "models/eprop_sine"])
def test_a_shipped_card_is_found_by_name_from_an_empty_directory(elsewhere, name):
    assert find_file("models", name) == shipped_dir("models") / "eprop_sine.toml"
    assert load_card(name) == load_card(ROOT / "models" / "eprop_sine.toml")


def test_a_file_in_the_working_directory_wins_over_the_shipped_card(elsewhere):
    (elsewhere / "models").mkdir()
    (elsewhere / "models" / "eprop_sine.toml").write_text("[task\n")
    assert find_file("models", "models/eprop_sine.toml") == Path("models/eprop_sine.toml")
    with pytest.raises(ConfigError, match=r"^models/eprop_sine.toml: invalid TOML"):
        load_card("models/eprop_sine.toml")
    assert load_card("eprop_sine").network.n_rec == 100  # the bare name still finds the shipped card


@pytest.mark.parametrize("name", ["eprop_sin", "models/nope.toml"])
def test_an_unknown_shipped_name_lists_the_shipped_cards(elsewhere, name):
    with pytest.raises(ConfigError, match="no shipped model card of that name; shipped: bias_lorenz, .*eprop_sine,"):
        load_card(name)


def test_an_ordinary_missing_path_keeps_the_readers_message(elsewhere):
    for name in ("nope.toml", "cards/eprop_sine.toml", elsewhere / "models" / "eprop_sine.toml"):
        assert shipped_file("models", name) is None
        with pytest.raises(ConfigError, match="does not exist"):
            load_card(name)


def test_the_cli_names_a_shipped_card_or_fails_on_one_line(elsewhere, capsys):
    assert main(["check", "models/eprop_sine_chip.toml", "--profile", "loihi2"]) == 0
    assert "=> runs" in capsys.readouterr().out
    assert main(["check", "eprop_sin", "--profile", "loihi2"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("neuromorph: error: model card 'eprop_sin': no such file")


def test_profiles_by_id_by_shipped_path_and_by_a_local_file(elsewhere):
    assert profile_names() == shipped_names("hardware_profiles")
    assert load_profile("hardware_profiles/loihi2.toml").path == PROFILE_DIR / "loihi2.toml"
    assert load_profile("loihi2").id == "loihi2"
    local = elsewhere / "hardware_profiles"
    local.mkdir()
    (local / "loihi2.toml").write_text("[meta\n")
    with pytest.raises(HardwareProfileError, match="invalid TOML"):
        load_profile("hardware_profiles/loihi2.toml")
    with pytest.raises(HardwareProfileError, match="no shipped hardware profile of that name; shipped: brainscales2"):
        load_profile("hardware_profiles/loihi9.toml")


def test_a_shipped_sweep_reads_its_cards_inside_the_package(elsewhere):
    sweep = load_sweep("sweeps/gain_smoke.toml", check=False)
    assert sweep.path == shipped_dir("sweeps") / "gain_smoke.toml"
    assert set(sweep.cards) == {"romo", "2af", "dms"}


def test_a_users_sweep_may_name_a_shipped_card(elsewhere):
    text = (ROOT / "sweeps" / "gain_smoke.toml").read_text()
    text = text.replace('"../models/gain_romo_eprop.toml"', '"gain_romo_eprop"')
    text = text.replace('"../models/gain_2af_eprop.toml"', '"models/gain_2af_eprop.toml"')
    (elsewhere / "broken.toml").write_text(text)  # dms still names ../models/gain_dms_eprop.toml: not here
    with pytest.raises(ConfigError, match=r"\[sweep.cards\] dms: .*models/gain_dms_eprop.toml does not exist"):
        load_sweep("broken.toml", check=False)
    text = text.replace('"../models/gain_dms_eprop.toml"', '"gain_dms_eprop.toml"')
    (elsewhere / "mine.toml").write_text(text)
    mine, shipped = load_sweep("mine.toml", check=False), load_sweep("sweeps/gain_smoke.toml", check=False)
    assert mine.cards == shipped.cards
