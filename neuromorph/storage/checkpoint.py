"""Reading back what a run file holds for a resume or an export, refusing a damaged file by name.

A run file can be damaged by hand or by a foreign tool while its HDF5 layout stays valid: a
``/checkpoint/blob`` that does not unpickle, a ``/params/w_in`` deleted, a ``w_rec`` of the wrong
shape, a ``/config`` that is not TOML. Each of these raises :class:`StorageError` that names the
file, what is wrong and the fix (delete the file, or ``--force`` to start over), instead of an
unpickling traceback or a resume that "succeeds" and stays damaged.
"""

from __future__ import annotations

import io
import pickle
import tomllib
from pathlib import Path

from neuromorph.errors import StorageError
from neuromorph.storage.run import RunRecord

__all__ = ["CHECKPOINT_KEYS", "check_params", "load_checkpoint", "stored_card"]

#: What every checkpoint blob written by :mod:`neuromorph.experiment` holds.
CHECKPOINT_KEYS = ("params", "feedback", "learner", "generator", "iteration", "curves")
_FIX = "delete it or pass --force to start the run over"


def load_checkpoint(blob: dict | bytes, path: Path | str) -> dict:
    """The checkpoint dict: ``blob`` as read from ``/checkpoint/state``, or the ``torch.save`` bytes of an earlier
    version's ``/checkpoint/blob`` (``torch.load``, weights only); a corrupt or incomplete one is a StorageError."""
    import torch

    if isinstance(blob, dict):
        return _complete(blob, path)

    try:
        state = torch.load(io.BytesIO(blob), weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, KeyError, TypeError, AttributeError,
            OSError) as exc:
        cause = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise StorageError(f"{path}: /checkpoint/blob is corrupt ({cause}); {_FIX}") from None
    if not isinstance(state, dict):
        raise StorageError(f"{path}: /checkpoint/blob holds a {type(state).__name__}, not a checkpoint; {_FIX}")
    return _complete(state, path, "/checkpoint/blob")


def _complete(state: dict, path: Path | str, where: str = "/checkpoint/state") -> dict:
    missing = [k for k in CHECKPOINT_KEYS if k not in state]
    if missing:
        raise StorageError(f"{path}: {where} lacks {', '.join(missing)}; {_FIX}")
    return state


def _check_group(found: dict, shapes: dict[str, tuple[int, ...]], where: str, path: Path | str) -> None:
    for name, shape in sorted(shapes.items()):
        if name not in found:
            raise StorageError(f"{path} is damaged: {where}/{name} is missing; {_FIX}")
        got = tuple(getattr(found[name], "shape", ()))
        if got != tuple(shape):
            raise StorageError(f"{path} is damaged: {where}/{name} has shape {got}, expected {tuple(shape)}; {_FIX}")


def check_params(record: RunRecord, shapes: dict[str, tuple[int, ...]], path: Path | str,
                 state: dict | None = None) -> None:
    """Every parameter of ``shapes`` is in ``record.params`` (and the checkpoint ``state``) with that shape."""
    _check_group(record.params, shapes, "/params", path)
    if state is not None:
        params = state["params"] if isinstance(state["params"], dict) else {}
        _check_group({**params, "feedback": state["feedback"]}, shapes, "/checkpoint/blob", path)


def stored_card(record: RunRecord, path: Path | str) -> dict:
    """The run's ``/config`` parsed as TOML; text that is not TOML is a StorageError."""
    try:
        return tomllib.loads(record.config_toml)
    except tomllib.TOMLDecodeError as exc:
        raise StorageError(f"{path}: /config is not a TOML model card ({exc}); the file is damaged or foreign") from None
