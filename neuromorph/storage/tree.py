"""Nested Python state as named HDF5 groups and datasets (a checkpoint a user can read with h5py).

:func:`write_tree` stores a tree of dicts, lists and tuples whose leaves are torch tensors, numpy arrays, ints,
floats, bools, strings and None; :func:`read_tree` gives the same tree back, bit for bit (floats are stored in
their own dtype; a tensor keeps its torch dtype). Every node says what it is in its ``kind`` attribute (``dict``,
``list``, ``tuple``, ``tensor``, ``ndarray``, ``int``, ``float``, ``bool``, ``str``, ``none``). A dict's string keys
are the names of its children (``/checkpoint/state/params/w_rec``); other keys (an optimiser's parameter indices)
and names HDF5 cannot hold are stored as ``#<position>`` with the key in the ``key`` attribute (JSON). Insertion
order is kept (``track_order``).

Unlike a pickle, reading runs no code, and what a checkpoint holds can be looked at with ``h5dump``.
"""

from __future__ import annotations

import json

import h5py
import numpy as np

from neuromorph.errors import ConfigError, StorageError

__all__ = ["read_tree", "write_tree"]

_SCALARS = {bool: "bool", int: "int", float: "float", str: "str"}


def _name(key: object, position: int) -> tuple[str, str | None]:
    """The child's HDF5 name and, where the key is not that name, the key as JSON."""
    if isinstance(key, str) and key and "/" not in key and key not in (".", "..") and not key.startswith("#"):
        return key, None
    if isinstance(key, (str, int)) and not isinstance(key, bool):
        return f"#{position}", json.dumps(key)
    raise ConfigError(f"a checkpoint key must be a str or an int, got {type(key).__name__} {key!r}")


def write_tree(parent: h5py.Group, name: str, value: object) -> None:
    """Store ``value`` as ``parent[name]`` (module docstring)."""
    if isinstance(value, dict):
        group = parent.create_group(name, track_order=True)
        group.attrs["kind"] = "dict"
        for position, (key, item) in enumerate(value.items()):
            child, key_json = _name(key, position)
            write_tree(group, child, item)
            if key_json is not None:
                group[child].attrs["key"] = key_json
        return
    if isinstance(value, (list, tuple)):
        group = parent.create_group(name, track_order=True)
        group.attrs["kind"] = "tuple" if isinstance(value, tuple) else "list"
        for position, item in enumerate(value):
            write_tree(group, str(position), item)
        return
    if value is None:
        parent.create_dataset(name, data=h5py.Empty("f8")).attrs["kind"] = "none"
        return
    if type(value) in _SCALARS:
        data = value if not isinstance(value, str) else np.array(value, dtype=h5py.string_dtype("utf-8"))
        parent.create_dataset(name, data=data).attrs["kind"] = _SCALARS[type(value)]
        return
    if isinstance(value, np.ndarray):
        parent.create_dataset(name, data=value).attrs["kind"] = "ndarray"
        return
    if hasattr(value, "detach") and hasattr(value, "dtype"):  # a torch tensor (torch is imported by the caller)
        tensor = value.detach().cpu()
        ds = parent.create_dataset(name, data=tensor.numpy())
        ds.attrs["kind"] = "tensor"
        ds.attrs["torch_dtype"] = str(tensor.dtype).removeprefix("torch.")
        return
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        write_tree(parent, name, value.item())
        return
    raise ConfigError(f"cannot store a {type(value).__name__} in a checkpoint ({name!r})")


def read_tree(node: h5py.Group | h5py.Dataset, where: str = "checkpoint") -> object:
    """The tree :func:`write_tree` stored at ``node``; a node without a known ``kind`` is a StorageError."""
    kind = node.attrs.get("kind")
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind == "dict":
        out = {}
        for child, item in node.items():
            key = item.attrs.get("key")
            out[json.loads(key) if key is not None else child] = read_tree(item, f"{where}/{child}")
        return out
    if kind in ("list", "tuple"):
        items = [read_tree(node[str(k)], f"{where}/{k}") for k in range(len(node))]
        return tuple(items) if kind == "tuple" else items
    if kind == "none":
        return None
    if kind in ("bool", "int", "float"):
        return {"bool": bool, "int": int, "float": float}[kind](node[()])
    if kind == "str":
        return node.asstr()[()]
    if kind == "ndarray":
        return np.asarray(node[()])
    if kind == "tensor":
        import torch

        dtype = getattr(torch, str(node.attrs.get("torch_dtype", "")), None)
        if not isinstance(dtype, torch.dtype):
            raise StorageError(f"/{where} has an unknown torch dtype {node.attrs.get('torch_dtype')!r}")
        return torch.from_numpy(np.array(node[()])).to(dtype)
    raise StorageError(f"/{where} is not part of a neuromorph checkpoint (kind={kind!r})")
