"""The one style every figure of :mod:`neuromorph.plots` shares, and a check that a figure keeps it.

All figures use matplotlib's object-oriented API (``Figure`` + ``FigureCanvasAgg``): no pyplot, no
global backend switch, nothing is ever shown, so there is no global figure to close. Every public
figure function is wrapped in :func:`styled`, which draws it under :data:`RC`:

* fonts readable at 100 % zoom: 10 pt labels, 9 pt ticks and legends (:data:`MIN_FONT_PT`);
* plain tick labels: no offset text, no ``2.5×10¹``; log axes get :func:`log_axis` (decades,
  2 and 5 times a decade on short ranges, round numbers within one decade, written as ``20``,
  ``0.5``, ``1e-05``);
* integer iteration ticks (:func:`integer_axis`);
* the colour-blind-safe Okabe–Ito palette (Okabe & Ito 2008, "Color universal design") without
  its yellow: no line lighter than :data:`MAX_LINE_LUMA`; ordered families (gains) use
  :func:`sequential`, a viridis that stops before its yellow end;
* shading explained in the legend with a :func:`shade_handle` patch; curves that may coincide
  drawn with :func:`overlap_styles` (solid under dashed under dotted, with markers).

:func:`audit` lists what breaks these rules in a drawn figure; :func:`capture` collects the figures
that :func:`save` writes, so tests can audit the figures of any entry point.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import matplotlib
import numpy as np
from cycler import cycler
from matplotlib import colors as mcolors
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

__all__ = [
    "MAX_LINE_LUMA",
    "MIN_FONT_PT",
    "PALETTE",
    "RC",
    "PlainLogFormatter",
    "PlainLogLocator",
    "audit",
    "capture",
    "cycle_color",
    "integer_axis",
    "log_axis",
    "luma",
    "overlap_styles",
    "plain_number",
    "save",
    "sequential",
    "shade_handle",
    "styled",
]

#: Okabe–Ito colours without yellow (#F0E442, too light on white), then a mid grey.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#7F7F7F")
#: Smallest font size (points) of any text in a figure.
MIN_FONT_PT = 9.0
#: Lightest allowed line colour (Rec. 601 luma of the sRGB values, 0 = black, 1 = white).
MAX_LINE_LUMA = 0.75
#: rcParams every figure is drawn under (see :func:`styled`).
RC: dict[str, Any] = {
    "font.size": 10.0,
    "axes.titlesize": 10.5,
    "axes.labelsize": 10.0,
    "xtick.labelsize": 9.0,
    "ytick.labelsize": 9.0,
    "legend.fontsize": 9.0,
    "legend.title_fontsize": 9.0,
    "figure.titlesize": 11.0,
    "axes.prop_cycle": cycler(color=PALETTE),
    "axes.formatter.useoffset": False,
    "axes.formatter.use_mathtext": False,
    "axes.formatter.limits": (-9, 9),  # 0.0002, not 2 with a 1e-4 offset
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.5,
    "legend.framealpha": 0.85,
    "image.cmap": "viridis",
}

F = TypeVar("F", bound=Callable[..., Any])
_captured: list[list[Figure]] = []


def styled(func: F) -> F:
    """Run the figure function ``func`` under :data:`RC` (fonts, palette, formatters)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context(RC):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def save(fig: Figure, path: str | os.PathLike[str], dpi: float) -> Path:
    """Attach an Agg canvas to ``fig``, write it to ``path`` as PNG at ``dpi`` and return the path."""
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=dpi)
    for figures in _captured:
        figures.append(fig)
    return Path(path)


@contextlib.contextmanager
def capture() -> Iterator[list[Figure]]:
    """Collect every figure :func:`save` writes inside the ``with`` block (for :func:`audit` in tests)."""
    figures: list[Figure] = []
    _captured.append(figures)
    try:
        yield figures
    finally:
        _captured.remove(figures)


def cycle_color(i: int) -> str:
    """Colour ``i`` of :data:`PALETTE` (wrapping), e.g. mode ``i`` or output ``i``."""
    return PALETTE[i % len(PALETTE)]


def sequential(n: int) -> list[tuple[float, float, float, float]]:
    """``n`` ordered colours (e.g. gains, smallest first): viridis from 0 to 0.8, never its light yellow end."""
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(0.8 * i / max(1, n - 1)) for i in range(n)]


def luma(color: Any) -> float:
    """Rec. 601 luma ``0.299 R + 0.587 G + 0.114 B`` of a matplotlib colour (0 black, 1 white)."""
    r, g, b = mcolors.to_rgb(color)
    return 0.299 * r + 0.587 * g + 0.114 * b


def shade_handle(label: str, color: Any, alpha: float) -> Patch:
    """A legend entry for shading drawn with ``axvspan``/``fill_between`` in ``color`` at ``alpha``."""
    return Patch(facecolor=color, alpha=alpha, edgecolor="none", label=label)


def overlap_styles(n: int, n_points: int) -> list[dict[str, Any]]:
    """Line styles for ``n`` curves that may lie on top of each other (e.g. two backends, same numbers).

    The first is wide and solid, the next narrower and dashed or dotted with hollow markers every
    ``n_points / 12`` points, each drawn above the previous one (``zorder``), so all stay visible.
    """
    every = max(1, n_points // 12)
    base = [
        {"ls": "-", "lw": 3.2, "alpha": 0.55},
        {"ls": "--", "lw": 1.6, "marker": "o", "markersize": 5, "markerfacecolor": "none"},
        {"ls": ":", "lw": 1.8, "marker": "s", "markersize": 4},
        {"ls": "-.", "lw": 1.3, "marker": "^", "markersize": 4, "markerfacecolor": "none"},
    ]
    styles = []
    for i in range(n):
        style = {**base[i % len(base)], "color": cycle_color(i), "zorder": 2 + i}
        if "marker" in style:
            style["markevery"] = (i * every // max(1, n), every)  # staggered: markers do not hide each other
        styles.append(style)
    return styles


def integer_axis(ax: Axes, axis: str = "x") -> None:
    """Ticks at whole numbers only on ``axis`` (iterations, indices, epochs)."""
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(ticker.MaxNLocator(integer=True))


def plain_number(x: float) -> str:
    """``x`` to three significant digits in plain notation (``25``, ``0.3``, ``1500``); ``1e-05`` far from 1."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    if 1e-4 <= abs(x) < 1e6:
        digits = max(0, 2 - math.floor(math.log10(abs(x))))
        return f"{round(x, digits):.{digits}f}".rstrip("0").rstrip(".") if digits else f"{round(x):d}"
    return f"{x:.0e}"


class PlainLogLocator(ticker.LogLocator):
    """Decades on a log axis; on an axis spanning less than one decade, round numbers (50, 60, 80 ...)."""

    def __init__(self) -> None:
        super().__init__(base=10.0)

    def tick_values(self, vmin: float, vmax: float) -> np.ndarray:
        lo, hi = sorted((vmin, vmax))
        if lo > 0 and math.log10(hi / lo) < 1.0:
            ticks = ticker.MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
            return ticks[ticks > 0]
        return super().tick_values(vmin, vmax)


class PlainLogFormatter(ticker.Formatter):
    """Plain labels on a log axis (:func:`plain_number`). ``minor=True``: label 2 and 5 times a decade
    when the axis spans one to two decades, nothing otherwise (the major ticks are dense enough)."""

    def __init__(self, minor: bool = False) -> None:
        self.minor = minor

    def __call__(self, x: float, pos: int | None = None) -> str:
        if not x > 0:
            return ""
        if not self.minor:
            return plain_number(x)
        span = math.inf
        if self.axis is not None:
            lo, hi = sorted(self.axis.get_view_interval())
            if lo > 0 and hi > 0:
                span = math.log10(hi / lo)
        mantissa = round(x / 10.0 ** math.floor(math.log10(x) + 1e-9), 6)
        return plain_number(x) if 1.0 <= span < 2.0 and mantissa in (2.0, 5.0) else ""


def log_axis(ax: Axes, axis: str = "y") -> None:
    """Log scale on ``axis`` with plain tick labels (:class:`PlainLogLocator`, :class:`PlainLogFormatter`)."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    target.set_major_locator(PlainLogLocator())
    target.set_minor_locator(ticker.LogLocator(base=10.0, subs=tuple(range(2, 10))))
    target.set_major_formatter(PlainLogFormatter())
    target.set_minor_formatter(PlainLogFormatter(minor=True))


# -- audit ------------------------------------------------------------------------------------------


def _visible_texts(fig: Figure) -> list[Any]:
    from matplotlib.text import Text

    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def _data_lines(ax: Axes) -> list[Line2D]:
    """Lines with data that a reader must tell apart (more than two points, not an axhline-like guide)."""
    return [ln for ln in ax.get_lines() if ln.get_visible() and len(np.atleast_1d(ln.get_xdata())) > 2]


def audit(fig: Figure) -> list[str]:
    """What in the drawn ``fig`` breaks the shared style (an empty list when nothing does).

    Checks: every text at least :data:`MIN_FONT_PT`; no offset or ``×10``/mathtext exponent in tick
    labels; every axes with visible tick labels has an x and y label; no line or marker lighter than
    :data:`MAX_LINE_LUMA`; an axes with two or more data lines has a legend (its own or the
    figure's); titles, axis labels and the suptitle overlap neither each other nor the figure edge.
    """
    FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()
    problems: list[str] = []
    for text in _visible_texts(fig):
        if text.get_fontsize() < MIN_FONT_PT - 1e-6:
            problems.append(f"text {text.get_text()[:40]!r} is {text.get_fontsize():g} pt")
    has_fig_legend = bool(fig.legends)
    labelled: list[tuple[str, Any]] = []
    if fig._suptitle is not None and fig._suptitle.get_text():  # noqa: SLF001 (public since 3.8 as get_suptitle)
        labelled.append(("suptitle", fig._suptitle))  # noqa: SLF001
    for k, ax in enumerate(fig.axes):
        if not ax.get_visible() or not ax.axison:
            continue
        name = f"axes {k} ({ax.get_title() or ax.get_ylabel()[:30]!r})"
        for axis, label in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            if axis.get_offset_text().get_text().strip():
                problems.append(f"{name}: {label} axis has offset text {axis.get_offset_text().get_text()!r}")
            ticks = [t for t in axis.get_ticklabels(which="both") if t.get_visible() and t.get_text().strip()]
            for t in ticks:
                if "$" in t.get_text() or "×" in t.get_text():
                    problems.append(f"{name}: {label} tick label {t.get_text()!r} is not plain")
            if ticks and not axis.get_label_text().strip():
                problems.append(f"{name}: {label} axis has tick labels but no label")
        for item in [*ax.get_lines(), *ax.collections]:
            colors = [item.get_color()] if isinstance(item, Line2D) else list(item.get_edgecolor()) + list(
                item.get_facecolor())
            if isinstance(item, Line2D) and item.get_marker() not in (None, "None", "none", ""):
                face = item.get_markerfacecolor()
                colors += [face] if face not in ("none", "None") else []
            if isinstance(item, Line2D) or not _is_fill(item):
                for color in colors:
                    if mcolors.to_rgba(color)[3] > 0.3 and luma(color) > MAX_LINE_LUMA:
                        problems.append(f"{name}: {type(item).__name__} colour {mcolors.to_hex(color)} is too light")
                        break
        if len(_data_lines(ax)) >= 2 and ax.get_legend() is None and not has_fig_legend:
            problems.append(f"{name}: {len(_data_lines(ax))} data lines but no legend")
        for part in (ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label):  # noqa: SLF001
            if part.get_visible() and part.get_text().strip():
                labelled.append((f"{name} {part.get_text()[:30]!r}", part))
    frame = fig.bbox
    boxes = [(who, t.get_window_extent(renderer)) for who, t in labelled]
    for who, box in boxes:
        if box.x0 < frame.x0 - 1 or box.x1 > frame.x1 + 1 or box.y0 < frame.y0 - 1 or box.y1 > frame.y1 + 1:
            problems.append(f"{who} is cut off by the figure edge")
    for i, (who, box) in enumerate(boxes):
        for other, obox in boxes[i + 1:]:
            if box.overlaps(obox) and min(box.width, obox.width) > 0:
                inter = (min(box.x1, obox.x1) - max(box.x0, obox.x0)) * (min(box.y1, obox.y1) - max(box.y0, obox.y0))
                if inter > 4.0:
                    problems.append(f"{who} overlaps {other}")
    return problems


def _is_fill(collection: Any) -> bool:
    """A filled area (band, span, bar): light colours are fine there, they sit behind the lines."""
    from matplotlib.collections import PolyCollection

    return isinstance(collection, PolyCollection)
