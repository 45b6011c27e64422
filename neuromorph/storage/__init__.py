"""HDF5 storage: one atomic write path, the run layout, and the per-study results files.

Modules: :mod:`.atomic` (temporary file, fsync, rename; stale temporaries; OS and h5py failures
as :class:`~neuromorph.errors.StorageError`), :mod:`.run` (the ``neuromorph-run`` layout of a
training run), :mod:`.results` (other results files), :mod:`.lock` (one writer per output file),
and the study stores :mod:`.bias`, :mod:`.contrastive` and :mod:`.theory`.
"""

from neuromorph.storage.results import atomic_hdf5, open_results, write_groups
from neuromorph.storage.run import FORMAT, FORMAT_VERSION, STATUSES, RunRecord, package_versions, read_run, write_run

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "STATUSES",
    "RunRecord",
    "atomic_hdf5",
    "open_results",
    "package_versions",
    "read_run",
    "write_groups",
    "write_run",
]
