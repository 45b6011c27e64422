"""Export messages that say where: a directory given as the NIR file, rule strings asked of a float run."""

from __future__ import annotations

from neuromorph.cli import main
from tests.robustness.helpers import ROOT, one_line_error

SMALL = ["--set", "train.iterations=1", "--set", "task.n_steps=40", "--set", "network.n_rec=8", "--no-progress"]


def _float_run(tmp_path):
    out = tmp_path / "run.h5"
    assert main(["train", str(ROOT / "models" / "eprop_sine.toml"), "--out", str(out), *SMALL]) == 0
    return out


def test_nir_onto_a_directory_names_the_directory(tmp_path, capsys):
    run, target = _float_run(tmp_path), tmp_path / "graphs"
    target.mkdir()
    line = one_line_error(capsys, ["export", str(run), "--nir", str(target)], str(target), "is a directory")
    assert ".tmp" not in line
    assert list(target.iterdir()) == []


def test_rule_strings_of_a_float_run_say_it_did_not_learn_on_a_chip(tmp_path, capsys):
    run, rules = _float_run(tmp_path), tmp_path / "rules.txt"
    line = one_line_error(capsys, ["export", str(run), "--loihi2-rules", str(rules)], "did not learn on a chip")
    assert "chip image" not in line
    assert not rules.exists()
