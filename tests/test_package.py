"""The package's top level: ``__version__``, the lazy public API, and ``neuromorph --version``."""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import neuromorph
from neuromorph.cli import main

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
HEAVY = ("brian2", "dask", "distributed")


def _python(code: str, cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_version_in_a_fresh_interpreter_is_the_installed_one(tmp_path):
    """Run outside the repository, so the import goes through the installed distribution."""
    out = _python("import neuromorph; print(neuromorph.__version__)", tmp_path)
    assert out == importlib.metadata.version("neuromorph") == PYPROJECT_VERSION


def test_import_loads_no_backend_or_heavy_dependency(tmp_path):
    code = "import sys, neuromorph; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    loaded = set(_python(code, tmp_path).split())
    assert "neuromorph" in loaded  # the probe itself can see the package
    assert not loaded & {"torch", "numpy", *HEAVY}, loaded & {"torch", "numpy", *HEAVY}


def test_the_whole_public_api_resolves_without_brian2_or_dask(tmp_path):
    code = ("import sys, neuromorph\n"
            "for name in neuromorph.__all__: getattr(neuromorph, name)\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    loaded = set(_python(code, tmp_path).split())
    assert "torch" in loaded  # the names were really imported ...
    assert not loaded & set(HEAVY), loaded & set(HEAVY)  # ... and none of them pulls in brian2 or dask


@pytest.mark.parametrize("name", sorted(set(neuromorph.__all__) - {"__version__"}))
def test_each_public_name_is_its_modules_object(name):
    module = importlib.import_module(neuromorph._EXPORTS[name])
    assert getattr(neuromorph, name) is getattr(module, name)
    assert name in dir(neuromorph)


def test_public_names_cover_the_brief():
    """The required names are exported (the table may grow: each entry is checked by the test above)."""
    required = {"load_card", "train", "simulate", "Parameters", "NetworkSpec", "LIFParameters", "ALIFParameters",
                "RateParameters", "ReadoutParameters", "EProp", "RFLO", "BPTT", "Feedback", "Mode", "Target"}
    assert required <= set(neuromorph.__all__), required - set(neuromorph.__all__)
    assert neuromorph.__all__ == ["__version__", *neuromorph._EXPORTS]
    assert neuromorph.simulate.__module__ == "neuromorph.runs"  # simulate(run, inputs); simulate(low, params, inputs)
    assert {"load_run"} <= set(neuromorph.__all__)


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        neuromorph.nope  # noqa: B018


def test_version_falls_back_to_pyproject_only_without_metadata():
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    assert neuromorph._read_version(missing) == neuromorph._FALLBACK_VERSION == PYPROJECT_VERSION
    assert neuromorph._read_version(lambda name: "9.9.9") == "9.9.9"


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"neuromorph {neuromorph.__version__}\n"


def test_console_script_version(tmp_path):
    script = Path(sys.executable).with_name("neuromorph")
    if not script.exists():
        pytest.skip(f"no console script next to {sys.executable} (package not installed in this environment)")
    done = subprocess.run([str(script), "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stdout) == (0, f"neuromorph {PYPROJECT_VERSION}\n"), done.stderr


def test_the_installed_distribution_declares_its_licence_and_ships_its_type_marker():
    """MIT in the metadata with the LICENSE file beside it, and ``py.typed`` (PEP 561) inside the package."""
    meta = importlib.metadata.metadata("neuromorph")
    assert meta["License-Expression"] == "MIT"
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert (Path(neuromorph.__file__).parent / "py.typed").is_file()


def test_the_metadata_names_the_project_urls_and_pins_nothing_exactly():
    """Ranges in pyproject (the exact tested set is constraints.txt, which pins every relaxed one)."""
    meta = importlib.metadata.metadata("neuromorph")
    urls = dict(entry.split(", ", 1) for entry in meta.get_all("Project-URL"))
    assert set(urls) == {"Homepage", "Documentation", "Source", "Issues"}
    requires = importlib.metadata.requires("neuromorph")
    assert requires and not [r for r in requires if "==" in r.split(";")[0]], requires
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    assert {"torch", "torchvision", "norse", "brian2", "nir", "neurogym"} <= set(pins)
    assert pins["torch"] == "2.13.0"
