"""PNG figures, one module per subject; all drawn with the conventions of :mod:`neuromorph.plots.style`.

* :mod:`~neuromorph.plots.run` — a stored run (``neuromorph plot RUN.h5``): learning curve, rasters,
  output against target, rule state; also :func:`compare_curves` of several runs;
* :mod:`~neuromorph.plots.bias` — bias-learning studies (``neuromorph bias``);
* :mod:`~neuromorph.plots.hardware` — hardware-profile studies (the weight-bit sweep);
* :mod:`~neuromorph.plots.theory` — the linear-RNN theory comparison (``neuromorph theory compare``);
* :mod:`~neuromorph.plots.contrastive` — the contrastive experiments (``neuromorph contrastive``);
* :mod:`~neuromorph.plots.sweep` — gain sweeps (``neuromorph sweep-report``).

The figures of a run are importable from the package itself (``from neuromorph.plots import
plot_run``); they are loaded on first use, so importing one subject module does not load the others.
The modules take data (run files, summary trees, result objects) and never import a study or a backend.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["RULE_STATE_PANELS", "compare_curves", "plot_curves", "plot_output", "plot_raster", "plot_rule_state",
           "plot_run"]


def __getattr__(name: str) -> Any:
    """Load the run figures (:mod:`neuromorph.plots.run`) on first access of one of their names (PEP 562)."""
    if name in __all__:
        return getattr(importlib.import_module("neuromorph.plots.run"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
