"""The files neuromorph ships: model cards, hardware profiles and sweep files, found by name.

Layout
------
The files live inside the package, in ``neuromorph/data/models/``, ``neuromorph/data/hardware_profiles/``
and ``neuromorph/data/sweeps/``, and are package data of the wheel (``[tool.setuptools.package-data]`` in
pyproject.toml). The repository's top-level ``models``, ``hardware_profiles`` and ``sweeps`` are relative
symbolic links to these three directories, so the paths the README, the Makefile, the tests and the examples
use (``models/eprop_sine.toml``) keep working in a checkout.

Why the files sit in the package and the links at the top, not the other way round: the wheel is then built
from ordinary package files, with no ``package-dir`` remapping and no link for the build backend to follow,
and an editable install (``make install``) reads the very same files from the source tree through the same
:mod:`importlib.resources` lookup as a wheel does. Nothing in the package ever reads the links: they are a
convenience of the checkout (a Windows checkout without symlink support loses only that convenience).
Sweep files name their cards relative to themselves (``../models/gain_romo_eprop.toml``), which resolves
inside the package as well as through the links.

Names
-----
A shipped file is named by its stem (``eprop_sine``), its file name (``eprop_sine.toml``) or its path in
the checkout (``models/eprop_sine.toml``). :func:`find_file` turns a command-line argument into a path:
a real file wins; otherwise a shipped name; an argument that looks like a shipped name but matches none
raises :class:`~neuromorph.errors.ConfigError` listing the shipped names.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from neuromorph.errors import ConfigError

#: the kinds of shipped file: directory name -> what one file is called in messages
KINDS: dict[str, str] = {"models": "model card", "hardware_profiles": "hardware profile", "sweeps": "sweep file"}


def shipped_dir(kind: str) -> Path:
    """The directory holding the shipped files of ``kind`` (a key of :data:`KINDS`).

    Raises
    ------
    ConfigError
        For an unknown kind, or a package that is not installed as plain files (a zip import), whose
        data cannot be read by path.
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown kind of shipped file {kind!r}; kinds: {', '.join(KINDS)}")
    root = importlib.resources.files(__name__) / kind
    if not isinstance(root, Path):
        raise ConfigError(f"neuromorph's shipped {kind} are not plain files ({root}); install the package "
                          "unpacked (pip does) rather than importing it from a zip archive")
    return root


def shipped_names(kind: str) -> list[str]:
    """Stems of the shipped files of ``kind``, sorted (``["bias_lorenz", ..., "reward_bandit"]``)."""
    return sorted(p.stem for p in shipped_dir(kind).glob("*.toml"))


def shipped_file(kind: str, name: str | Path) -> Path | None:
    """The shipped file of ``kind`` called ``name``, or None when ``name`` names none.

    ``name`` is a stem (``eprop_sine``), a file name (``eprop_sine.toml``) or the checkout path
    (``models/eprop_sine.toml``); an absolute path, a path in another directory or a suffix other
    than ``.toml`` names no shipped file.
    """
    stem = _stem(kind, Path(name))
    if stem is None:
        return None
    path = shipped_dir(kind) / f"{stem}.toml"
    return path if path.is_file() else None


def find_file(kind: str, name: str | Path) -> Path:
    """The path to read for the command-line argument ``name``: the file itself if it exists, else the
    shipped file of that name.

    An argument that names neither an existing path nor a shipped file is returned unchanged when it
    is an ordinary path (the reader then says the file does not exist), but raises when it reads as a
    shipped name (a bare stem, or ``<kind>/<stem>.toml``), listing the shipped names.

    Raises
    ------
    ConfigError
        For a shipped-looking name that matches no shipped file.
    """
    path = Path(name)
    if path.exists():
        return path
    shipped = shipped_file(kind, path)
    if shipped is not None:
        return shipped
    if _stem(kind, path) is not None and (path.suffix == "" or len(path.parts) == 2):
        raise ConfigError(f"{KINDS[kind]} {str(name)!r}: no such file, and no shipped {KINDS[kind]} of that "
                          f"name; shipped: {', '.join(shipped_names(kind))} (or give the path of a .toml file)")
    return path


def _stem(kind: str, path: Path) -> str | None:
    """The stem ``path`` names as a shipped file (``name``, ``name.toml``, ``<kind>/name[.toml]``), or None."""
    parts = path.parts
    if len(parts) == 2 and parts[0] == kind:
        parts = parts[1:]
    if len(parts) != 1 or path.is_absolute() or path.suffix not in ("", ".toml") or parts[0] in (".", ".."):
        return None
    return Path(parts[0]).stem
