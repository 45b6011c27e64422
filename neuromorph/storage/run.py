"""One HDF5 layout (h5py) for a training run, written atomically.

Layout (format ``neuromorph-run``, version 1)::

    /                      attrs: format, format_version, status, iteration, seed,
                                  created (first write, ISO 8601), modified, error (if any)
    every dataset           attrs: dims (one name per axis), units, description (:mod:`.layout`);
                                  /curves/loss also: definition (the loss, by /attrs/loss)
    /config                scalar UTF-8 string dataset: the resolved model card (TOML)
    /versions              attrs: package -> version
    /attrs                 attrs: scalar metadata (dt, loss kind, rule name, ...)
    /curves/<name>         per-iteration curves; "loss" is required
    /params/<name>         parameters (w_in, w_rec, w_out, bias, b_out, feedback, ...)
    /last/<name>           last iteration: inputs, spikes (uint8), output, target, mask
    /rule_state/<name>     rule state recorded in the last iteration, trial 0 (group attr trial = 0)
    /recorded/<i>/<name>   optional: every recorded iteration ``i`` (1-based count of iterations done;
                           ``train.record_every``), the arrays of ``/last``, and its rule state in
                           /recorded/<i>/rule_state/<name>
    /checkpoint/state      optional: the resume state as named groups and datasets (:mod:`.tree`: parameters,
                           optimiser moments, generator states, curves), readable with h5py and no code
    /checkpoint/blob       written by neuromorph before 0.2: the same state as torch.save bytes (still read)

Time-major arrays are stored as given, ``(T, B, ...)``. Arrays with at least
``_COMPRESS_MIN`` elements are gzip-compressed.

Atomicity: :func:`write_run` writes a temporary file in the destination directory, flushes and
fsyncs it, then renames it over ``path`` with :func:`os.replace` (:mod:`.atomic`). A reader (or a
recomputed dask task) therefore sees either the previous complete file or the new one, never a
partial one.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from neuromorph.errors import ConfigError, StorageError
from neuromorph.storage.atomic import STORAGE_FAILURES, atomic_path
from neuromorph.storage.layout import LOSS_DEFINITIONS, describe, group_attrs
from neuromorph.storage.tree import read_tree, write_tree

__all__ = ["FORMAT", "FORMAT_VERSION", "RunRecord", "package_versions", "read_run", "write_run"]

FORMAT = "neuromorph-run"
FORMAT_VERSION = 1
STATUSES = ("running", "complete", "failed")
_ARRAY_GROUPS = ("curves", "params", "last", "rule_state")
_REQUIRED = ("config", "versions", "attrs", *_ARRAY_GROUPS, "curves/loss")
_COMPRESS_MIN = 4096
_VERSION_PACKAGES = ("neuromorph", "torch", "norse", "numpy", "h5py", "scipy", "numba", "brian2", "nir", "neurogym",
                     "dask", "distributed", "matplotlib")


@dataclass
class RunRecord:
    """Everything stored about one training run.

    Attributes
    ----------
    config_toml : str
        The resolved model card as TOML text.
    seed : int
        Seed of the run, ``0 <= seed < 2**64``.
    versions : dict of str to str
        Package -> version (see :func:`package_versions`).
    status : str
        ``"running"``, ``"complete"`` or ``"failed"``.
    iteration : int
        Iterations finished.
    curves : dict of str to ndarray
        Per-iteration curves; ``"loss"`` (n_iter,) is required; e.g. ``"accuracy"``, ``"rate_hz"``.
    params : dict of str to ndarray
        Current parameters (w_in, w_rec, w_out, bias, b_out, feedback, ...).
    last : dict of str to ndarray
        Last iteration: inputs (T, B, n_in), spikes (T, B, N), output (T, B, O), target, mask.
        ``spikes`` must be 0/1 and is stored (and read back) as uint8.
    rule_state : dict of str to ndarray
        Named rule state of the last iteration, e.g. ``pre_trace_in`` (T, n_in),
        ``post_term`` (T, N), ``learning_signal`` (T, N), ``eligibility`` (T, ...).
    attrs : dict of str to float, int or str
        Scalar metadata, e.g. ``dt`` (s), ``loss`` (a LossKind value), ``rule``.
    checkpoint : dict, bytes or None
        The resume state: a tree of dicts, lists and tensors stored as ``/checkpoint/state`` (:mod:`.tree`), or
        (files of earlier versions) ``torch.save`` bytes; read back only with ``read_run(..., with_checkpoint=True)``.
    error : str or None
        Message when ``status == "failed"``.
    recorded : dict of int to dict of str to ndarray
        Optional: iteration (iterations done when it was recorded) -> the arrays of ``last`` for that
        iteration, plus ``"rule_state"``: a dict of its rule state. Empty unless ``train.record_every`` is set.
    """

    config_toml: str
    seed: int
    versions: dict[str, str]
    status: str
    iteration: int
    curves: dict[str, np.ndarray]
    params: dict[str, np.ndarray]
    last: dict[str, np.ndarray]
    rule_state: dict[str, np.ndarray]
    attrs: dict[str, float | int | str]
    checkpoint: dict | bytes | None = None
    error: str | None = None
    recorded: dict[int, dict] = field(default_factory=dict)


def package_versions() -> dict[str, str]:
    """Installed versions of neuromorph, its backends and dependencies (torch, norse, numba, brian2, nir, neurogym,
    dask, numpy, h5py, scipy, matplotlib) and python.

    Packages that are not installed (as distributions) are omitted.
    """
    versions: dict[str, str] = {}
    for name in _VERSION_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    versions["python"] = platform.python_version()
    return versions


# -- writing ------------------------------------------------------------------------------------


def _bad(field: str, value: object, allowed: str) -> ConfigError:
    return ConfigError(f"RunRecord.{field}={value!r} is invalid: {allowed}")


def _check_name(group: str, name: object) -> None:
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise _bad(f"{group} key", name, "use a non-empty name without '/'")


def _validate(record: RunRecord) -> None:
    if record.status not in STATUSES:
        raise _bad("status", record.status, f"expected one of {STATUSES}")
    if not isinstance(record.seed, (int, np.integer)) or not 0 <= int(record.seed) < 2**64:
        raise _bad("seed", record.seed, "expected an int in [0, 2**64)")
    if not isinstance(record.iteration, (int, np.integer)) or int(record.iteration) < 0:
        raise _bad("iteration", record.iteration, "expected an int >= 0")
    if not isinstance(record.config_toml, str):
        raise ConfigError("RunRecord.config_toml must be the TOML text (str)")
    if "loss" not in record.curves:
        raise ConfigError("RunRecord.curves lacks the required 'loss' curve (shape (n_iter,))")
    if record.checkpoint is not None and not isinstance(record.checkpoint, (dict, bytes, bytearray)):
        allowed = "expected a dict (the resume state), bytes (torch.save, as earlier versions wrote) or None"
        raise _bad("checkpoint", type(record.checkpoint).__name__, allowed)
    for group in _ARRAY_GROUPS:
        for name in getattr(record, group):
            _check_name(group, name)
    for iteration, arrays in record.recorded.items():
        if not isinstance(iteration, (int, np.integer)) or int(iteration) < 1:
            raise _bad("recorded key", iteration, "expected an iteration count (int >= 1)")
        for name in arrays:
            _check_name(f"recorded[{iteration}]", name)
    for name, value in record.attrs.items():
        _check_name("attrs", name)
        if not isinstance(value, (int, float, str, np.integer, np.floating)):
            raise _bad(f"attrs[{name!r}]", value, "expected an int, float or str")


def _as_stored(group: str, name: str, value: object) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype == object:
        raise ConfigError(f"RunRecord.{group}[{name!r}] is not a numeric array")
    if group == "last" and name == "spikes":
        if not np.isin(array, (0, 1)).all():
            allowed = "spikes must be 0/1 (they are stored as uint8)"
            raise _bad("last['spikes']", f"array with values {np.unique(array)[:4]}", allowed)
        array = array.astype(np.uint8)
    return array


def _write_arrays(root: h5py.Group, group: str, arrays: dict[str, np.ndarray], attrs: dict,
                  kind: str | None = None) -> None:
    """``arrays`` as the datasets of ``/group``, each with its dims, units and description (:mod:`.layout`) as the
    datasets of group ``kind`` (default: ``group``; a recorded iteration's are those of ``last`` and ``rule_state``)."""
    kind = kind or group
    grp = root.create_group(group)
    grp.attrs.update(group_attrs(kind))
    for name, value in arrays.items():
        array = _as_stored(kind, name, value)
        if array.size >= _COMPRESS_MIN:
            ds = grp.create_dataset(name, data=array, compression="gzip", compression_opts=4, shuffle=True)
        else:
            ds = grp.create_dataset(name, data=array)
        meta = describe(kind, name, array.ndim, attrs)
        ds.attrs["dims"] = list(meta.dims)
        ds.attrs["units"] = meta.units
        ds.attrs["description"] = meta.description
        if (group, name) == ("curves", "loss") and attrs.get("loss") in LOSS_DEFINITIONS:
            ds.attrs["definition"] = LOSS_DEFINITIONS[attrs["loss"]]


def _previous_created(path: Path) -> str | None:
    """The ``created`` attr of an existing run at ``path`` (kept across rewrites), else None."""
    try:
        with h5py.File(path, "r") as f:
            created = f.attrs.get("created")
            return str(created) if f.attrs.get("format") == FORMAT and created is not None else None
    except (*STORAGE_FAILURES, ValueError):
        return None


def _write_file(tmp: Path, record: RunRecord, created: str, now: str) -> None:
    with h5py.File(tmp, "x") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["status"] = record.status
        f.attrs["iteration"] = int(record.iteration)
        f.attrs["seed"] = np.uint64(int(record.seed))
        f.attrs["created"] = created
        f.attrs["modified"] = now
        if record.error is not None:
            f.attrs["error"] = str(record.error)
        f.create_dataset("config", data=record.config_toml, dtype=h5py.string_dtype("utf-8"))
        versions = f.create_group("versions")
        for name, version in record.versions.items():
            versions.attrs[str(name)] = str(version)
        attrs = f.create_group("attrs")
        for name, value in record.attrs.items():
            attrs.attrs[name] = value
        for group in _ARRAY_GROUPS:
            _write_arrays(f, group, getattr(record, group), record.attrs)
        for iteration, arrays in sorted(record.recorded.items()):
            _write_arrays(f, f"recorded/{int(iteration)}", {k: v for k, v in arrays.items() if k != "rule_state"},
                          record.attrs, kind="last")
            _write_arrays(f, f"recorded/{int(iteration)}/rule_state", arrays.get("rule_state", {}), record.attrs,
                          kind="rule_state")
        if isinstance(record.checkpoint, dict):
            write_tree(f.create_group("checkpoint"), "state", record.checkpoint)
        elif record.checkpoint is not None:
            blob = np.frombuffer(bytes(record.checkpoint), dtype=np.uint8)
            f.create_group("checkpoint").create_dataset("blob", data=blob)
        f.flush()


def write_run(path: str | os.PathLike[str], record: RunRecord) -> Path:
    """Write ``record`` to ``path`` atomically; create parent directories.

    The file is written to a temporary ``<name>.tmp<PID>-*`` in the same directory, flushed and
    fsynced, then moved over ``path`` with :func:`os.replace`. On any failure the temporary file
    is removed and whatever was at ``path`` before is left untouched; stale temporaries of dead
    processes are removed first.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ConfigError
        ``record`` is invalid (unknown status, no ``loss`` curve, non-binary spikes, ...).
    StorageError
        The file could not be written (permissions, disk full, ...: h5py's RuntimeError included);
        the message names the file and the fix.
    """
    _validate(record)
    path = Path(path)
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    created = _previous_created(path) or now
    with atomic_path(path, "run file") as tmp:
        _write_file(tmp, record, created, now)
    return path


# -- reading ------------------------------------------------------------------------------------


def _scalar(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def _check_layout(f: h5py.File, path: Path) -> None:
    fmt = _scalar(f.attrs.get("format"))
    if fmt != FORMAT:
        raise StorageError(
            f"{path} is an HDF5 file but not a neuromorph run (root attr format={fmt!r}, "
            f"expected {FORMAT!r}); pass a file written by neuromorph.storage.write_run"
        )
    version = _scalar(f.attrs.get("format_version"))
    if not isinstance(version, int) or version < 1:
        raise StorageError(f"{path} has an invalid format_version={version!r}")
    if version > FORMAT_VERSION:
        raise StorageError(
            f"{path} has format_version={version}, newer than this neuromorph reads "
            f"(<= {FORMAT_VERSION}); upgrade neuromorph to read it"
        )
    for key in ("status", "iteration", "seed"):
        if key not in f.attrs:
            raise StorageError(f"{path} is a damaged neuromorph run: root attr {key!r} is missing")
    for name in _REQUIRED:
        if name not in f:
            raise StorageError(f"{path} is a damaged neuromorph run: required '/{name}' is missing")


def _read_arrays(f: h5py.File, group: str) -> dict[str, np.ndarray]:
    return {name: np.asarray(ds[()]) for name, ds in f[group].items()}


def _read_recorded(f: h5py.File) -> dict[int, dict]:
    if "recorded" not in f:
        return {}
    recorded = {}
    for name in sorted(f["recorded"], key=int):
        group = f"recorded/{name}"
        arrays: dict = {k: np.asarray(ds[()]) for k, ds in f[group].items() if isinstance(ds, h5py.Dataset)}
        arrays["rule_state"] = _read_arrays(f, f"{group}/rule_state") if f"{group}/rule_state" in f else {}
        recorded[int(name)] = arrays
    return recorded


def _read_record(f: h5py.File, path: Path, with_checkpoint: bool) -> RunRecord:
    _check_layout(f, path)
    checkpoint = None
    if with_checkpoint and "checkpoint/state" in f:
        checkpoint = read_tree(f["checkpoint/state"], "checkpoint/state")
    elif with_checkpoint and "checkpoint/blob" in f:
        checkpoint = np.asarray(f["checkpoint/blob"][()], dtype=np.uint8).tobytes()
    error = f.attrs.get("error")
    return RunRecord(
        config_toml=f["config"].asstr()[()],
        seed=int(f.attrs["seed"]),
        versions={k: str(_scalar(v)) for k, v in f["versions"].attrs.items()},
        status=str(f.attrs["status"]),
        iteration=int(f.attrs["iteration"]),
        curves=_read_arrays(f, "curves"),
        params=_read_arrays(f, "params"),
        last=_read_arrays(f, "last"),
        rule_state=_read_arrays(f, "rule_state"),
        attrs={k: _scalar(v) for k, v in f["attrs"].attrs.items()},
        checkpoint=checkpoint,
        error=None if error is None else str(error),
        recorded=_read_recorded(f),
    )


def read_run(path: str | os.PathLike[str], *, with_checkpoint: bool = False) -> RunRecord:
    """Read a run written by :func:`write_run`.

    Parameters
    ----------
    path : path-like
        The ``.h5`` file.
    with_checkpoint : bool
        Also load ``/checkpoint`` (else ``checkpoint`` is None): the state as a dict (or the bytes of an earlier
        version's blob).

    Raises
    ------
    StorageError
        The file is missing, is not HDF5 or is corrupt, is a foreign HDF5 file (no
        ``format="neuromorph-run"``), has a newer ``format_version``, or lacks a required
        group/dataset (the message names it).
    """
    path = Path(path)
    if not path.exists():
        raise StorageError(f"no run file at {path}")
    if not path.is_file():
        raise StorageError(f"{path} is not a file")
    try:
        with h5py.File(path, "r") as f:
            return _read_record(f, path, with_checkpoint)
    except StorageError:
        raise
    except (*STORAGE_FAILURES, KeyError, ValueError, TypeError) as exc:
        cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StorageError(
            f"{path} is not a readable HDF5 run file (corrupt or truncated?): {cause}; "
            "delete it (or pass --force) to start the run over"
        ) from exc
