"""Sphinx configuration of the API reference (``make docs``: ``sphinx-build -W --keep-going -b html docs/api
docs/api/_build``).

The pages are generated here, before Sphinx reads the sources: one page per public package in :data:`PACKAGES`,
holding the package's docstring and every submodule below it (found with :mod:`pkgutil`, so a new module is in
the reference without an edit here), each object documented once, in the module that defines it
(``ignore-module-all``: a package's re-exports are not repeated). The top-level page lists the lazily exported
names of :mod:`neuromorph` (``neuromorph._EXPORTS``) with links to where each is documented.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import neuromorph

project = "neuromorph"
author = "neuromorph developers"
copyright = "neuromorph developers (MIT licence)"
release = neuromorph.__version__
version = release

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax"]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
autodoc_default_options = {"members": True, "show-inheritance": True, "ignore-module-all": True,
                           "member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_class_signature = "separated"
autodoc_preserve_defaults = True  # a default as written (``field(default_factory=...)``, enums), not its repr
exclude_patterns = ["_build"]
nitpicky = True
#: Only the package's own references are checked (torch, numpy, ... have no inventory here: no network at build
#: time); a reference to a private name (a base class shown by ``show-inheritance``) or to a module outside the
#: reference (the study packages, the figures) renders as code.
nitpick_ignore_regex = [(r"py:.*", r"(?!neuromorph\b).*"), (r"py:.*", r"neuromorph\..*\b_[A-Za-z]\w*"),
                        (r"py:.*", r"neuromorph\.(plots|bias|contrastive|sweep|theory_compare|export)\b.*")]
html_theme = "alabaster"
html_static_path: list[str] = []

#: The public packages and modules, one page each (the README's layout); submodules are found below them.
PACKAGES = (
    ("neuromorph.network", "Network structure and parameters"),
    ("neuromorph.dynamics", "Neuron models"),
    ("neuromorph.plasticity", "Plasticity rules"),
    ("neuromorph.config", "Model cards"),
    ("neuromorph.experiment", "Training runs"),
    ("neuromorph.engine", "The training step (Session)"),
    ("neuromorph.backends", "Backends"),
    ("neuromorph.torch", "The network as a torch.nn.Module"),
    ("neuromorph.hardware", "Hardware profiles"),
    ("neuromorph.storage", "Storage (HDF5)"),
    ("neuromorph.theory", "Theory of local learning in linear RNNs"),
    ("neuromorph.analysis", "Dynamics analysis"),
    ("neuromorph.tasks", "Tasks"),
    ("neuromorph.types", "Shared types"),
    ("neuromorph.errors", "Errors"),
    ("neuromorph.data", "Shipped data"),
    ("neuromorph.anycard", "Reading any card"),
    ("neuromorph.cards", "The card schema"),
    ("neuromorph.linear_rate", "The linear-rate mode"),
    ("neuromorph.memory", "Memory estimate"),
    ("neuromorph.runs", "Loading, reusing and continuing a run"),
    ("neuromorph.resume", "Resuming a run"),
    ("neuromorph.interrupt", "Interrupting a run"),
)

HERE = Path(__file__).resolve().parent
GENERATED = HERE / "_generated"


def submodules(name: str) -> list[str]:
    """``name`` and every module below it, private ones (``_x``) left out, in import order of the walk."""
    module = importlib.import_module(name)
    found = [name]
    if hasattr(module, "__path__"):
        for info in pkgutil.walk_packages(module.__path__, prefix=name + "."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                found.append(info.name)
    return found


def heading(text: str, char: str) -> str:
    return f"{text}\n{char * len(text)}\n"


def package_page(name: str, title: str) -> str:
    lines = [heading(f"{name}: {title}", "=")]
    for i, module in enumerate(submodules(name)):
        if i:
            lines.append(heading(module, "-"))
        lines.append(f".. automodule:: {module}\n")
    return "\n".join(lines)


def exports_page() -> str:
    """The top-level API: every name of ``neuromorph._EXPORTS`` and the module that documents it."""
    lines = [heading("neuromorph: the top-level API", "="), ".. automodule:: neuromorph\n   :no-members:\n",
             "The names below are importable from :mod:`neuromorph` itself (resolved on first use) and documented "
             "in the module that defines them.\n", ".. list-table::\n   :header-rows: 1\n",
             "   * - name\n     - documented in"]
    for exported, module in neuromorph._EXPORTS.items():
        defined = getattr(getattr(importlib.import_module(module), exported), "__module__", module)
        lines.append(f"   * - ``neuromorph.{exported}``\n     - :obj:`{defined}.{exported}`")
    return "\n".join(lines) + "\n"


def generate() -> None:
    GENERATED.mkdir(exist_ok=True)
    pages = {"neuromorph": exports_page()}
    pages.update({name: package_page(name, title) for name, title in PACKAGES})
    for name, text in pages.items():
        path = GENERATED / f"{name}.rst"
        if not path.exists() or path.read_text() != text:  # unchanged pages keep their mtime: no rebuild
            path.write_text(text)
    for stale in set(GENERATED.glob("*.rst")) - {GENERATED / f"{n}.rst" for n in pages}:
        stale.unlink()


def canonical(target: str) -> str | None:
    """Where the object a dotted path names is documented: its defining module's path (a re-export such as
    ``neuromorph.plasticity.Learner`` is documented as ``neuromorph.plasticity.optim.Learner``); None if the path
    names no object."""
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        name = obj.__name__
        for part in parts[cut:]:
            if not hasattr(obj, part):
                return None
            obj = getattr(obj, part)
            module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
            defined = isinstance(obj, type) or callable(obj) and hasattr(obj, "__code__")
            name = f"{module}.{qualname}" if defined and module and qualname else f"{name}.{part}"
        return name
    return None


def resolve_reexport(app, env, node, contnode):
    """``missing-reference``: a reference to a re-exported name resolves to where that name is documented."""
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target.startswith("neuromorph"):
        return None
    where = canonical(target)
    if where is None or where == target:
        return None
    domain = env.get_domain("py")
    for kind in (node["reftype"], "obj"):
        found = domain.resolve_xref(env, node["refdoc"], app.builder, kind, where, node, contnode)
        if found is not None:
            return found
    return None


def setup(app):
    app.connect("missing-reference", resolve_reexport)
    # napoleon reads an attribute's docstring as "type: description" (Google style), which turns a ``#:`` comment
    # with a colon in it ("time constant (steps) of ...; 0: off") into a type; the package's attribute comments are
    # plain text, so napoleon parses every docstring but those of attributes and module data.
    from sphinx.ext import napoleon

    for listener in list(app.events.listeners.get("autodoc-process-docstring", [])):
        if listener.handler is napoleon._process_docstring:
            app.disconnect(listener.id)

    def numpy_style(app, what, name, obj, options, lines):
        if what not in ("attribute", "data"):
            napoleon._process_docstring(app, what, name, obj, options, lines)

    app.connect("autodoc-process-docstring", numpy_style)


generate()
