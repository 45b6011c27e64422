"""Shared helpers of the robustness tests: cards with one key changed, and the CLI's one-line contract."""

from __future__ import annotations

import tomllib
from pathlib import Path

import tomli_w

from neuromorph.cli import main

ROOT = Path(__file__).resolve().parents[2]


def edited(src: Path, dest: Path, changes: dict[str, object]) -> Path:
    """Write ``src`` to ``dest`` with dotted keys set (``None`` deletes the key)."""
    table = tomllib.loads(src.read_text())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        body = table
        for key in parents:
            body = body.setdefault(key, {})
        if value is None:
            body.pop(leaf, None)
        else:
            body[leaf] = value
    dest.write_text(tomli_w.dumps(table))
    return dest


def one_line_error(capsys, argv: list[str], *needles: str) -> str:
    """Run the CLI; assert exit 1 and exactly one stderr line ``neuromorph: error: ...`` holding ``needles``."""
    code = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 1, err
    assert len(lines) == 1 and lines[0].startswith("neuromorph: error:"), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]
