"""Reading the package's TOML inputs (model cards, comparison cards, hardware profiles) with one error style."""

from __future__ import annotations

import tomllib
from pathlib import Path

from neuromorph.errors import ConfigError


def read_toml(path: Path, what: str, error: type[ConfigError] = ConfigError) -> tuple[dict, str]:
    """``(table, text)`` of the TOML file at ``path``; a missing file or invalid TOML raises ``error``
    with one line that names ``what`` and the path."""
    try:
        text = path.read_text()
        return tomllib.loads(text), text
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: invalid TOML: {exc}") from None
