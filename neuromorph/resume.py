"""What may not change between an interrupted run and its resume.

The model card is compared as text (:mod:`neuromorph.experiment`). Beyond it, a resume would mix
two different computations if the hardware profile *file* changed (the card names the profile by
id or path, not by content: editing the file between interruption and resume changed weights from
8 to 3 bits mid-run), if the backend or its code-generation target changed (a run labelled
``backend = brian2`` that was half torch), or if a package whose arithmetic the numbers depend on
has another version. :func:`resume_changes` lists each of these in words; ``--force`` starts over.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from neuromorph.storage import RunRecord, package_versions

__all__ = ["NUMERIC_PACKAGES", "card_differences", "profile_digest", "resume_changes"]

#: Packages whose version can change the numbers of a run (recorded in ``/versions``).
NUMERIC_PACKAGES = ("neuromorph", "torch", "numpy", "norse")


def profile_digest(path: Path | str) -> str:
    """SHA-256 (hex) of the profile file's bytes; ``""`` if it cannot be read."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def _flat(table: dict, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in table.items():
        if isinstance(value, dict) and value:
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def card_differences(old: dict, new: dict) -> list[str]:
    """The dotted keys in which two resolved cards differ, each as ``"key (old -> new)"``, sorted.

    A key present in one card only reads ``(absent -> value)``; tables are compared key by key.
    """
    a, b = _flat(old), _flat(new)
    missing = "absent"
    return [f"{key} ({a.get(key, missing)!r} -> {b.get(key, missing)!r})" for key in sorted(a.keys() | b.keys())
            if a.get(key, missing) != b.get(key, missing)]


def resume_changes(record: RunRecord, hardware, backend: dict[str, str]) -> list[str]:
    """What differs between the stored run and the one about to continue it (empty: safe to resume).

    ``hardware`` is the run's :class:`~neuromorph.hardware.setup.HardwareSetup` (or None) and
    ``backend`` the backend's file attributes (``backend``, and e.g. ``brian2_target``;
    :mod:`neuromorph.backends.registry`).
    """
    changes = []
    stored_backend = str(record.attrs.get("backend", "torch"))
    if stored_backend != backend["backend"]:
        changes.append(f"the backend changed from {stored_backend} to {backend['backend']}")
    else:
        for key, value in backend.items():
            if key != "backend" and str(record.attrs.get(key, "")) != str(value):
                changes.append(f"the {key.replace('_', ' ')} changed from {record.attrs.get(key)!r} to {value!r}")
    stored_digest = record.attrs.get("profile_sha256")
    if hardware is not None and stored_digest is not None:
        digest = profile_digest(hardware.profile.path)
        if digest != stored_digest:
            changes.append(f"the hardware profile file {hardware.profile.path} changed (sha256 {str(stored_digest)[:12]} "
                           f"-> {digest[:12]})")
    now = package_versions()
    for name in NUMERIC_PACKAGES:
        old, new = record.versions.get(name), now.get(name)
        if old is not None and new is not None and old != new:
            changes.append(f"{name} changed from {old} to {new}")
    return changes
