"""What every figure module of :mod:`neuromorph.plots` shares: saving on the Agg canvas, mode colours.

All figures use matplotlib's object-oriented API (``Figure`` + ``FigureCanvasAgg``): no pyplot, no
global backend switch, nothing is ever shown, so there is no global figure to close. Each module
keeps its own resolution (``DPI``) as it had before the figures moved into one package.
"""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["cycle_color", "save"]


def save(fig: Figure, path: str | os.PathLike[str], dpi: float) -> Path:
    """Attach an Agg canvas to ``fig``, write it to ``path`` as PNG at ``dpi`` and return the path."""
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=dpi)
    return Path(path)


def cycle_color(i: int) -> str:
    """Colour ``C{i}`` of matplotlib's default cycle (wrapping after ten), e.g. mode ``i`` or output ``i``."""
    return f"C{i % 10}"
