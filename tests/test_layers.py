"""The package's layering, read statically from its imports (``tests/import_graph.py``).

Intended layering (README): cli -> api (train/simulate/load_run), studies; studies -> api; api ->
backends, tasks, hardware, storage, plots; the torch and brian2 backends -> dynamics, plasticity,
hardware, backends.base and never each other; theory -> numpy/scipy only; export reads runs, never
a backend. Imports inside functions count; ``if TYPE_CHECKING:`` blocks do not.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import neuromorph
from tests.import_graph import Edge, cycles, describe, import_graph, offenders

PACKAGE_ROOT = Path(neuromorph.__file__).resolve().parent
STUDIES = ("neuromorph.bias", "neuromorph.contrastive", "neuromorph.sweep", "neuromorph.theory_compare")
ENGINE = ("neuromorph.backends", "neuromorph.plasticity", "neuromorph.dynamics", "neuromorph.hardware")

@pytest.fixture(scope="module")
def edges() -> list[Edge]:
    return import_graph(PACKAGE_ROOT, "neuromorph")


def assert_no_offenders(edges: list[Edge], sources, forbidden, what: str) -> None:
    """Fail with every (module, import) pair from ``sources`` into ``forbidden``."""
    found = offenders(edges, sources, forbidden)
    assert not found, f"{what}: {len(found)} import(s) (module, import):\n{describe(found)}"


def assert_no_cycles(edges: list[Edge], package: str) -> None:
    """Fail with the edges of every import cycle among ``package``'s modules."""
    found = cycles(edges, package)
    assert not found, "import cycles (module, import):\n" + "\n--\n".join(describe(c) for c in found)


# -- (a) brian2 backend -/-> torch backend ---------------------------------------------------------


def test_brian2_backend_does_not_import_the_torch_backend(edges):
    assert_no_offenders(edges, ["neuromorph.backends.brian2"], ["neuromorph.backends.torch"],
                        "neuromorph.backends.brian2 imports the torch backend")


# -- (b) engine -/-> studies ----------------------------------------------------------------------


def test_engine_does_not_import_a_study(edges):
    assert_no_offenders(edges, ENGINE, STUDIES, "backends/plasticity/dynamics/hardware import a study package")


# -- (c), (d) theory and export run no backend ---------------------------------------------------


def test_theory_imports_no_backend(edges):
    assert_no_offenders(edges, ["neuromorph.theory"], ["neuromorph.backends", "torch", "norse", "brian2"],
                        "neuromorph.theory imports a backend")


def test_export_imports_no_backend(edges):
    assert_no_offenders(edges, ["neuromorph.export"], ["neuromorph.backends"], "neuromorph.export imports a backend")


def test_plots_import_no_study_or_backend(edges):
    """The figures take data (run files, summaries, result objects): studies import plots, never the reverse."""
    assert_no_offenders(edges, ["neuromorph.plots"], [*STUDIES, "neuromorph.backends", "neuromorph.experiment"],
                        "neuromorph.plots imports a study, a backend or the experiment")


# -- (e) no import cycles --------------------------------------------------------------------------


def test_no_import_cycles(edges):
    assert_no_cycles(edges, "neuromorph")


# -- the walker itself -----------------------------------------------------------------------------


def test_the_walker_sees_imports_inside_functions_of_the_real_package(edges):
    """``neuromorph.cli`` imports its subcommands inside functions; a module-level-only walker would miss them."""
    pairs = {(e.module, e.target) for e in edges}
    assert ("neuromorph.cli", "neuromorph.plots") in pairs
    assert ("neuromorph.cli", "neuromorph.cli_export") in pairs
    assert ("neuromorph.cli_export", "neuromorph.backends.torch.simulate") in pairs
    assert ("neuromorph.contrastive.run", "neuromorph.plots.contrastive") in pairs  # from pkg import submodule
    assert len({e.module for e in edges}) > 100
