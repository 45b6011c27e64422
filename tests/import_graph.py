"""A static import graph of a package, read with :mod:`ast` (for ``tests/test_layers.py``).

Every ``import`` and ``from ... import`` in a module counts, at module level and inside functions
or classes, except those under ``if TYPE_CHECKING:`` (or ``if typing.TYPE_CHECKING:``), which do not
run. Relative imports are resolved. ``from pkg import name`` is an import of the module
``pkg.name`` when that is a module of the package, else of ``pkg``. Importing a module is not
counted as importing its parent packages (Python finds those already initialised in the cases
that matter), and string imports (``importlib.import_module``) are invisible, which is what lets
a package ``__init__`` re-export names lazily without importing its whole tree.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class Edge:
    """``module`` imports ``target`` at ``line``."""

    module: str
    target: str
    line: int

    def __str__(self) -> str:
        return f"({self.module}, {self.target}) line {self.line}"


def package_modules(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under ``root`` (the directory of ``package``)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join((package, *parts))] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """All nodes of ``tree`` except the bodies of ``if TYPE_CHECKING:`` (their ``else`` runs)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from`` import names (relative levels resolved against ``module``)."""
    if node.level == 0:
        return node.module or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parts, node.module] if node.module else parts)


def module_imports(module: str, path: Path, known: Iterable[str]) -> list[Edge]:
    """The runtime imports of ``module`` (file ``path``), given the ``known`` modules of its package."""
    known = set(known)
    is_package = path.name == "__init__.py"
    edges = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            edges.update(Edge(module, alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _base(module, is_package, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                edges.add(Edge(module, sub if sub in known else base, node.lineno))
    return sorted(edges)


def import_graph(root: Path, package: str) -> list[Edge]:
    """Every runtime import of every module of ``package`` (its directory is ``root``), sorted."""
    modules = package_modules(root, package)
    return sorted(e for name, path in modules.items() for e in module_imports(name, path, modules))


def within(name: str, prefixes: Iterable[str]) -> bool:
    """``name`` is one of ``prefixes`` or a submodule of one."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def offenders(edges: Iterable[Edge], sources: Iterable[str], forbidden: Iterable[str]) -> list[Edge]:
    """The edges from a module within ``sources`` to a module within ``forbidden``."""
    sources, forbidden = tuple(sources), tuple(forbidden)
    return [e for e in edges if within(e.module, sources) and within(e.target, forbidden)]


def cycles(edges: Iterable[Edge], package: str) -> list[list[Edge]]:
    """The edges of each import cycle among ``package``'s modules (strongly connected components, Tarjan)."""
    inner = [e for e in edges if within(e.target, (package,)) and e.module != e.target]
    graph: dict[str, set[str]] = {}
    for e in inner:
        graph.setdefault(e.module, set()).add(e.target)
        graph.setdefault(e.target, set())
    components = _strongly_connected(graph)
    found = []
    for component in components:
        if len(component) > 1:
            found.append(sorted(e for e in inner if e.module in component and e.target in component))
    return sorted(found)


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative (no recursion limit on long import chains)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


def describe(edges: Iterable[Edge]) -> str:
    """One ``(module, import) line N`` per edge, for failure messages."""
    return "\n".join(f"  {e}" for e in edges)
