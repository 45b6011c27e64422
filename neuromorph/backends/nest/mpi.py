r"""NEST under MPI: ``mpirun -np P neuromorph train CARD --backend nest`` (docs/nest.md, "Threads and MPI").

Under MPI every rank runs the same Python program, card, seed and optimiser. NEST distributes the neurons over
the ``P x N`` virtual processes (``N`` threads per process) and keeps every connection on the rank of its
target neuron, so what a rank reads from NEST is its own share: a ``spike_recorder``'s or ``multimeter``'s
``events`` hold the events of the rank's neurons, ``GetConnections`` the rank's connections. This module
makes that share whole again, and decides who writes:

* recordings: every rank's events are gathered and concatenated (:func:`gathered_events`); mapping them to
  (T, B, n) assigns by (step, node), so the order of the ranks does not matter;
* weights: every rank's (target, source, weight) triples are gathered and put into one (post, pre) matrix
  (:func:`gathered_weights`). Each connection lives on exactly one rank, so the matrix is the one a single
  process with as many virtual processes (threads) reads, bit for bit; every rank gets the full gradient and
  applies the same optimiser step, so the ranks stay in lockstep without broadcasting parameters;
* writing: only rank 0 writes the run file, checkpoints and prints (:func:`nest_ranks` gives the backend its
  rank; the experiment asks the backend's ``writer``).

A NEST built without MPI under ``mpirun`` would run the whole network on every rank, each writing the same
file: :func:`check_launch` refuses it. ``mpi4py`` is imported only when NEST runs on more than one process.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from neuromorph.errors import ConfigError

#: the environment variables in which MPI launchers announce the number of processes: Open MPI's ``mpirun``;
#: the PMI launchers' (MPICH's and Intel MPI's hydra ``mpiexec``)
LAUNCHER_SIZE = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")
#: where to read how to get an MPI build of NEST
FIX = ("an MPI build of NEST (cmake -Dwith-mpi=ON; docs/nest.md, \"Threads and MPI\"), or run without mpirun "
       "(--nest-threads N for threads)")


def launched_processes(environ: Mapping[str, str] | None = None) -> tuple[int, str | None]:
    """The number of processes an MPI launcher started, and the variable that says so ((1, None): no launcher).

    Read from the environment (:data:`LAUNCHER_SIZE`), so it is known without importing NEST or MPI.
    """
    environ = os.environ if environ is None else environ
    for name in LAUNCHER_SIZE:
        try:
            size = int(environ.get(name, ""))
        except ValueError:
            continue
        return size, name
    return 1, None


def check_launch(nest_processes: int, environ: Mapping[str, str] | None = None) -> None:
    """Refuse a program launched as several MPI processes whose NEST runs on one (a NEST built without MPI).

    Each rank would then simulate the whole network on its own and all of them would write the same run file;
    the message names the fix (:data:`FIX`).
    """
    launched, name = launched_processes(environ)
    if launched > 1 and nest_processes == 1:
        raise ConfigError(f"launched as {launched} MPI processes ({name}={launched}) but NEST is not MPI-enabled "
                          "(nest.NumProcesses() == 1): every process would run the whole network and write the same "
                          f"run file; use {FIX}")


def nest_built_with_mpi() -> bool | None:
    """Whether the installed NEST was built with MPI, read without importing it (None: cannot tell).

    NEST 3.10 without MPI ends the process at ``import nest`` when it sees an MPI launcher (exit 127, its own
    message); its Python package's ``include/nest/config.h`` (pip's wheels and sdist builds install it) says
    ``#define HAVE_MPI`` or not, so the refusal can be :func:`check_launch`'s line instead.
    """
    spec = importlib.util.find_spec("nest")
    for root in (spec.submodule_search_locations or []) if spec is not None else []:
        header = Path(root) / "include" / "nest" / "config.h"
        if header.is_file():
            return re.search(r"^#define HAVE_MPI\b", header.read_text(errors="replace"), re.M) is not None
    return None


def nest_ranks(load_nest, environ: Mapping[str, str] | None = None) -> tuple[int, int]:
    """``(processes, rank)`` of NEST: ``(1, 0)`` unless an MPI launcher started this program.

    Under a launcher NEST is imported here (``load_nest()``: ``import nest``, which initialises MPI), at setup: its
    rank decides who writes, and a NEST without MPI is refused before anything is simulated
    (:func:`check_launch`). Without a launcher NEST is not imported (a single process needs no rank).
    """
    from neuromorph.backends.nest.support import nest_available

    if launched_processes(environ)[0] <= 1 or not nest_available():
        return 1, 0  # a missing NEST is refused with its install line by the backend's setup check
    if nest_built_with_mpi() is False:
        check_launch(1, environ)  # before the import, which would end the process with NEST's own message
    nest = load_nest()
    processes = int(nest.NumProcesses())
    check_launch(processes, environ)
    return processes, int(nest.Rank())


class SingleProcess:
    """One process: every gather is the process's own share (what NEST without MPI returns already)."""

    rank, size = 0, 1

    def allgather(self, obj):
        """``[obj]``: the list of every rank's ``obj``."""
        return [obj]


class MPIRanks:
    """``MPI.COMM_WORLD`` (the communicator NEST runs on) through mpi4py."""

    def __init__(self, comm) -> None:
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()

    def allgather(self, obj):
        """Every rank's ``obj``, in rank order, on every rank (``comm.allgather``)."""
        return self.comm.allgather(obj)


def ranks(nest) -> SingleProcess | MPIRanks:
    """The ranks NEST runs on: :class:`SingleProcess`, or :class:`MPIRanks` when ``nest.NumProcesses() > 1``
    (imports mpi4py; a missing one is one line with its install command)."""
    processes = int(nest.NumProcesses())
    if processes == 1:
        return SingleProcess()
    try:
        from mpi4py import MPI
    except ImportError:
        raise ConfigError(f"NEST runs on {processes} MPI processes and the nest backend gathers their recordings "
                          "and weights with mpi4py, which is not installed: pip install mpi4py (built against the "
                          "MPI NEST was built with)") from None
    return MPIRanks(MPI.COMM_WORLD)


def merge_events(parts: Sequence[Mapping[str, np.ndarray]], keys: Sequence[str]) -> dict[str, np.ndarray]:
    """The events of every rank as one dict of arrays (``keys`` of each part, concatenated in rank order).

    ``senders`` are node ids (int64): NEST gives a recorder without events float64 arrays, which would turn a
    concatenation with another rank's ids into floats that cannot index.
    """
    merged = {k: np.concatenate([np.atleast_1d(np.asarray(p[k])) for p in parts]) for k in keys}
    if "senders" in merged:
        merged["senders"] = merged["senders"].astype(np.int64)
    return merged


def gathered_events(recorder, keys: Sequence[str], comm: SingleProcess | MPIRanks) -> dict[str, np.ndarray]:
    """A recorder's ``events[keys]`` of every rank (its own share under MPI, module docstring)."""
    ev = recorder.events
    local = {k: np.asarray(ev[k]) for k in keys}
    return merge_events([local] if comm.size == 1 else comm.allgather(local), keys)


def local_triples(conns: Mapping | Sequence, first_post: int, first_pre: int) -> tuple[np.ndarray, ...]:
    """``(post index, pre index, weight)`` arrays from ``GetConnections(...).get(["source", "target", "weight"])``
    (scalars for one connection, nothing for none: a rank may hold no connection of a projection)."""
    if not conns:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    post = np.atleast_1d(np.asarray(conns["target"], dtype=np.int64)) - first_post
    pre = np.atleast_1d(np.asarray(conns["source"], dtype=np.int64)) - first_pre
    return post, pre, np.atleast_1d(np.asarray(conns["weight"], dtype=np.float64))


def weight_matrix(parts: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], shape: tuple[int, int]) -> np.ndarray:
    """The (post, pre) matrix of every rank's ``(post, pre, weight)`` triples (0 where there is no connection).

    Each connection is on one rank, so each entry is set once (a pair reported twice would be a gather that
    double counts: :class:`RuntimeError`); the values are copied, not summed: the matrix is exact.
    """
    post = np.concatenate([p[0] for p in parts]).astype(np.int64)
    pre = np.concatenate([p[1] for p in parts]).astype(np.int64)
    repeated = len(post) - np.unique(post * shape[1] + pre).size
    if repeated:
        raise RuntimeError(f"{repeated} connections were reported by more than one rank")
    w = np.zeros(shape)
    w[post, pre] = np.concatenate([p[2] for p in parts])
    return w


def gathered_weights(nest, pre, post, comm: SingleProcess | MPIRanks) -> np.ndarray:
    """The (post, pre) weight matrix of the connections from ``pre`` to ``post``, over every rank."""
    conns = nest.GetConnections(pre, post)
    local = local_triples(conns.get(["source", "target", "weight"]) if len(conns) else {},
                          int(post[0].global_id), int(pre[0].global_id))
    return weight_matrix(comm.allgather(local), (len(post), len(pre)))
