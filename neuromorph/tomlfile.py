"""Reading the package's TOML inputs (model cards, comparison cards, hardware profiles) with one error style."""

from __future__ import annotations

import tomllib
from pathlib import Path

from neuromorph.errors import ConfigError


def read_toml(path: Path, what: str, error: type[ConfigError] = ConfigError) -> tuple[dict, str]:
    """``(table, text)`` of the TOML file at ``path``.

    A missing file, a directory, an unreadable file, bytes that are not UTF-8 or invalid TOML
    raise ``error`` with one line that names ``what``, the path and the fix.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
        return tomllib.loads(text), text
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise error(f"{what} {path} is a directory; give the path of a .toml file") from None
    except UnicodeDecodeError as exc:
        raise error(f"{what} {path} is not UTF-8 text (byte {exc.start}: {exc.reason}); "
                    "TOML files must be UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise error(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
