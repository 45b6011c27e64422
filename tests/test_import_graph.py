"""The static import walker of ``tests/test_layers.py``, on a tiny synthetic package (so the layer tests can fail)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.import_graph import cycles, import_graph, offenders, within
from tests.test_layers import assert_no_cycles, assert_no_offenders

FILES = {
    "__init__.py": "from pkg import a\n",
    "a.py": """
        from __future__ import annotations
        import typing
        from typing import TYPE_CHECKING

        import numpy as np
        import pkg.b

        if TYPE_CHECKING:
            import pkg.hidden
        else:
            import pkg.shown

        if typing.TYPE_CHECKING:
            from pkg import hidden2


        def f():
            from pkg.c import thing
            return thing
        """,
    "b.py": "from . import c\nfrom .sub import mod\n",
    "c.py": "from .a import f as thing\n",
    "shown.py": "",
    "hidden.py": "import pkg.a\n",
    "hidden2.py": "",
    "sub/__init__.py": "from .. import b\n",
    "sub/mod.py": "from ..c import thing\nimport os.path\n",
}


@pytest.fixture
def graph(tmp_path: Path):
    root = tmp_path / "pkg"
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    return import_graph(root, "pkg")


def test_edges_module_level_in_functions_relative_and_not_type_checking(graph):
    assert {(e.module, e.target) for e in graph} == {
        ("pkg", "pkg.a"),
        ("pkg.a", "__future__"), ("pkg.a", "typing"), ("pkg.a", "numpy"), ("pkg.a", "pkg.b"),
        ("pkg.a", "pkg.shown"),  # the else branch of `if TYPE_CHECKING:` runs
        ("pkg.a", "pkg.c"),  # inside a function
        ("pkg.b", "pkg.c"), ("pkg.b", "pkg.sub.mod"),  # relative, `from . import module`
        ("pkg.c", "pkg.a"),  # `from .a import name` is an import of pkg.a
        ("pkg.hidden", "pkg.a"),
        ("pkg.sub", "pkg.b"),  # `..` from a package __init__
        ("pkg.sub.mod", "pkg.c"), ("pkg.sub.mod", "os.path"),
    }
    line = next(e.line for e in graph if (e.module, e.target) == ("pkg.a", "pkg.c"))
    assert textwrap.dedent(FILES["a.py"]).splitlines()[line - 1].strip() == "from pkg.c import thing"


def test_cycles_are_found_and_listed(graph):
    (cycle,) = cycles(graph, "pkg")
    assert {(e.module, e.target) for e in cycle} == {  # pkg.hidden -> pkg.a is no part: only TYPE_CHECKING imports it
        ("pkg.a", "pkg.b"), ("pkg.b", "pkg.c"), ("pkg.c", "pkg.a"), ("pkg.a", "pkg.c"), ("pkg.b", "pkg.sub.mod"),
        ("pkg.sub.mod", "pkg.c")}
    with pytest.raises(AssertionError) as info:
        assert_no_cycles(graph, "pkg")
    assert "(pkg.c, pkg.a)" in str(info.value) and "(pkg.a, pkg.b)" in str(info.value)
    acyclic = [e for e in graph if (e.module, e.target) != ("pkg.c", "pkg.a")]
    assert cycles(acyclic, "pkg") == []
    assert_no_cycles(acyclic, "pkg")


def test_offenders_and_their_message(graph):
    assert [(e.module, e.target) for e in offenders(graph, ["pkg.sub"], ["pkg.c"])] == [("pkg.sub.mod", "pkg.c")]
    with pytest.raises(AssertionError, match=r"\(pkg\.sub\.mod, pkg\.c\) line 1"):
        assert_no_offenders(graph, ["pkg.sub"], ["pkg.c"], "sub imports c")
    assert_no_offenders(graph, ["pkg.sub"], ["pkg.hidden", "pkg.hidden2"], "nothing imports a TYPE_CHECKING module")


def test_within_matches_whole_components_only():
    assert within("neuromorph.theory", ["neuromorph.theory"])
    assert within("neuromorph.theory.odes", ["neuromorph.theory"])
    assert not within("neuromorph.theory_compare.run", ["neuromorph.theory"])
    assert not within("neuromorph", ["neuromorph.theory"])
