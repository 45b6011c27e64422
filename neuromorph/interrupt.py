"""Ctrl-C that is never lost: SIGINT is deferred to a safe point of the training loop.

Python delivers ``KeyboardInterrupt`` wherever the main thread happens to be. Raised inside a
finaliser or a weak-reference callback (h5py closes objects that way, mostly during checkpoint
writes) it is printed as ``Exception ignored in ...`` and *dropped*: the run went on and exited 0.
:func:`deferred_interrupts` installs a SIGINT handler that only records the request; the loop
asks :attr:`Interrupts.requested` between iterations, after the checkpoint write, and stops
there with a resumable file. A second Ctrl-C raises at once (the usual escape hatch).
Outside the main thread (a dask worker) signals cannot be handled and nothing changes.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["Interrupts", "deferred_interrupts"]


@dataclass
class Interrupts:
    """How many SIGINTs arrived since the handler was installed."""

    count: int = 0

    @property
    def requested(self) -> bool:
        return self.count > 0

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` if Ctrl-C was pressed (call at a safe point)."""
        if self.count:
            raise KeyboardInterrupt


@contextmanager
def deferred_interrupts() -> Iterator[Interrupts]:
    """Within the block, the first SIGINT is recorded (not raised); a second raises immediately."""
    state = Interrupts()
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield state  # not ours to handle (a worker thread, or a caller with its own handler)
        return

    def handler(signum, frame) -> None:
        state.count += 1
        if state.count > 1:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)
