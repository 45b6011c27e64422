"""The package's layering, read statically from its imports (``tests/import_graph.py``).

Intended layering (README): cli -> api (train/simulate/load_run), studies; studies -> api; api ->
backends, tasks, hardware, storage, plots; the torch and brian2 backends -> dynamics, plasticity,
hardware, backends.base and never each other; theory -> numpy/scipy only; export reads runs, never
a backend. Imports inside functions count; ``if TYPE_CHECKING:`` blocks do not.

Edges that are being removed in the current engine rewrite are listed in ``KNOWN_ENGINE_TO_STUDY``: the test that
forbids them is a strict xfail (it fails loudly once they are gone, so the marker must go too), and a
second test fails on any offender that is not in the list.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import neuromorph
from tests.import_graph import Edge, cycles, describe, import_graph, offenders

PACKAGE_ROOT = Path(neuromorph.__file__).resolve().parent
STUDIES = ("neuromorph.bias", "neuromorph.contrastive", "neuromorph.sweep", "neuromorph.theory_compare")
ENGINE = ("neuromorph.backends", "neuromorph.plasticity", "neuromorph.dynamics", "neuromorph.hardware")

#: engine -> study: the brian2 contrastive lowering reads the contrastive study's models and data (being removed).
KNOWN_ENGINE_TO_STUDY = {
    ("neuromorph.backends.brian2.contrastive", "neuromorph.contrastive.card"),
    ("neuromorph.backends.brian2.contrastive", "neuromorph.contrastive.data"),
    ("neuromorph.backends.brian2.contrastive", "neuromorph.contrastive.models"),
    ("neuromorph.backends.brian2.contrastive", "neuromorph.contrastive.phases"),
    ("neuromorph.backends.brian2.contrastive", "neuromorph.contrastive.train"),
    ("neuromorph.backends.brian2.contrastive_equations", "neuromorph.contrastive.models"),
    ("neuromorph.backends.brian2.contrastive_network", "neuromorph.contrastive.models"),
}


@pytest.fixture(scope="module")
def edges() -> list[Edge]:
    return import_graph(PACKAGE_ROOT, "neuromorph")


def assert_no_offenders(edges: list[Edge], sources, forbidden, what: str) -> None:
    """Fail with every (module, import) pair from ``sources`` into ``forbidden``."""
    found = offenders(edges, sources, forbidden)
    assert not found, f"{what}: {len(found)} import(s) (module, import):\n{describe(found)}"


def assert_only_known(edges: list[Edge], sources, forbidden, known: set[tuple[str, str]], what: str) -> None:
    """Fail with the (module, import) pairs from ``sources`` into ``forbidden`` that ``known`` does not list."""
    new = [e for e in offenders(edges, sources, forbidden) if (e.module, e.target) not in known]
    assert not new, f"{what}, not among the known ones being removed:\n{describe(new)}"


def assert_no_cycles(edges: list[Edge], package: str) -> None:
    """Fail with the edges of every import cycle among ``package``'s modules."""
    found = cycles(edges, package)
    assert not found, "import cycles (module, import):\n" + "\n--\n".join(describe(c) for c in found)


# -- (a) brian2 backend -/-> torch backend ---------------------------------------------------------


def test_brian2_backend_does_not_import_the_torch_backend(edges):
    assert_no_offenders(edges, ["neuromorph.backends.brian2"], ["neuromorph.backends.torch"],
                        "neuromorph.backends.brian2 imports the torch backend")


# -- (b) engine -/-> studies ----------------------------------------------------------------------


@pytest.mark.xfail(strict=True, reason="backends.brian2.contrastive* import the contrastive study "
                                        "(models, card, data, phases, train); removed in the rewrite")
def test_engine_does_not_import_a_study(edges):
    assert_no_offenders(edges, ENGINE, STUDIES, "backends/plasticity/dynamics/hardware import a study package")


def test_engine_imports_of_studies_are_only_the_known_ones(edges):
    assert_only_known(edges, ENGINE, STUDIES, KNOWN_ENGINE_TO_STUDY,
                      "backends/plasticity/dynamics/hardware import a study package")


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
