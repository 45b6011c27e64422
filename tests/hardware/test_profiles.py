"""Every shipped profile validates; malformed profiles give one clear line naming file and key."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from neuromorph.cli import main
from neuromorph.errors import HardwareProfileError
from neuromorph.hardware.profile import PROFILE_DIR, load_profile, profile_names
from neuromorph.hardware.table import profiles_table

SHIPPED = ("brainscales2", "ideal", "loihi1", "loihi2", "spinnaker2", "xylo")


def test_every_shipped_profile_validates_and_sources_every_value():
    assert tuple(profile_names()) == SHIPPED
    for name in SHIPPED:
        p = load_profile(name)
        assert p.id == name and p.sources
        for key, leaf in p.leaves.items():
            head = leaf.src.split()[0].rstrip(":(;,")
            assert head in p.sources or leaf.src.startswith(("assumed", "derived:", "n/a:")), (name, key, leaf.src)


def test_only_ideal_is_ideal():
    assert [n for n in SHIPPED if load_profile(n).ideal] == ["ideal"]


def test_key_facts_from_hardware_md():
    l2 = load_profile("loihi2")
    assert (l2.weights.bits, l2.weights.exp_range, l2.weights.shift) == (8, (-8, 7), 6)  # lava / brian2-loihi
    assert (l2.traces["pre"].bits, l2.traces["pre"].signed) == (7, False)  # 7-bit unsigned traces
    assert l2.plasticity.update_period == (1, 63)  # 6-bit epoch
    assert l2.locality.allowed_scopes == ("synapse", "pre", "post")
    assert load_profile("xylo").plasticity.on_chip is False
    assert load_profile("brainscales2").weights.bits == 6
    assert math.isinf(load_profile("ideal").plasticity.update_period[1])


def test_profiles_table_lists_every_profile():
    table = profiles_table()
    for name in SHIPPED:
        assert name in table
    assert "INVALID" not in table


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = (PROFILE_DIR / "loihi2.toml").read_text()
    assert old in text, old
    path = tmp_path / "broken.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("weight_bits = { value = 8,", "weight_bitz = { value = 8,", "[synapse] weight_bitz: unknown key"),
        ("weight_bits = { value = 8,", "weight_bits = { value = \"8\",", "[synapse] weight_bits: expected an integer"),
        ("weight_bits = { value = 8,", "weight_bits = { value = 99,", "[synapse] weight_bits: expected an integer in [1, 52]"),
        ("temporal = { value = \"online\"", "temporal = { value = \"sometimes\"", "[locality] temporal: expected a string from"),
        ("reset = { value = \"zero\"", "#", "[neuron] is missing the key 'reset'"),
        ("fidelity = { value = \"approximate\", src = \"lava", "fidelity = { value = \"approximate\", src = \"nobody",
         "[meta] fidelity: src 'nobody"),
        ("[traces.pre]", "[traces.pre\n", "invalid TOML"),
        ("schema_version = 1", "schema_version = 2", "schema_version must be 1"),
    ],
)
def test_malformed_profile_names_file_key_and_expectation(tmp_path, old, new, expected):
    path = _broken(tmp_path, old, new)
    with pytest.raises(HardwareProfileError) as err:
        load_profile(path)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_malformed_profile_is_one_cli_line(tmp_path, capsys):
    path = _broken(tmp_path, "weight_bits = { value = 8,", "weight_bits = { value = -3,")
    assert main(["check", "models/eprop_sine.toml", "--profile", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "weight_bits" in err and "Traceback" not in err


def test_unknown_profile_lists_the_shipped_ones(capsys):
    assert main(["check", "models/eprop_sine.toml", "--profile", "truenorth"]) == 1
    err = capsys.readouterr().err
    assert "unknown hardware profile 'truenorth'" in err and "loihi2" in err


def test_override_is_validated_and_sourced():
    p = load_profile("loihi2", {"synapse.weight_bits": 4})
    assert p.weights.bits == 4 and p.src("synapse.weight_bits").startswith("override:")
    with pytest.raises(HardwareProfileError, match="weight_bits"):
        load_profile("loihi2", {"synapse.weight_bits": 0})


def test_profiles_command_runs_in_a_fresh_process():
    out = subprocess.run([sys.executable, "-m", "neuromorph", "profiles"], capture_output=True, text=True, check=True)
    assert "loihi2" in out.stdout and "sum_of_products" in out.stdout
