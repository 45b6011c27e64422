"""Train the flagship sine card with the torch backend and with brian2 (cpp_standalone); compare them.

    python examples/torch_vs_brian2_sine.py [--iterations 100] [--target cpp_standalone] [--out runs]

Both runs use float64, so the two simulators compute the same numbers: the script prints the
largest difference between the learning curves and the number of iterations whose last recorded
spike raster differs (expected: 0). It writes runs/sine_torch.h5, runs/sine_brian2.h5, their
figures (``neuromorph plot``), and runs/torch_vs_brian2_sine.png with both learning curves.
About 1 min with cpp_standalone (a 10-20 s build, then ~0.1 s per iteration), 3 min with numpy.
"""

import argparse
from pathlib import Path

import numpy as np

from neuromorph.config import load_card
from neuromorph.experiment import train
from neuromorph.plots import compare_curves, plot_run
from neuromorph.storage import read_run

ROOT = Path(__file__).resolve().parents[1]

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--iterations", type=int, default=100)
parser.add_argument("--target", choices=("numpy", "cython", "cpp_standalone"), default="cpp_standalone")
parser.add_argument("--out", type=Path, default=Path("runs"))
args = parser.parse_args()

spec = load_card(ROOT / "models" / "eprop_sine.toml", {"train.iterations": args.iterations,
                                                        "train.precision": "float64"})
runs = {}
for label, backend in (("torch", "torch"), (f"brian2 {args.target}", "brian2")):
    path = args.out / f"sine_{backend}.h5"
    runs[label] = train(spec, out=path, backend=backend, target=args.target, force=True).path
    plot_run(runs[label])

a, b = (read_run(p) for p in runs.values())
gap = np.max(np.abs(a.curves["loss"] - b.curves["loss"]) / np.abs(a.curves["loss"]))
same = np.array_equal(a.last["spikes"], b.last["spikes"])
print(f"loss {a.curves['loss'][0]:.4g} -> {a.curves['loss'][-1]:.4g} (torch), "
      f"{b.curves['loss'][0]:.4g} -> {b.curves['loss'][-1]:.4g} (brian2); "
      f"largest relative gap between the curves {gap:.1e}; last spike rasters identical: {same}")
print(compare_curves(runs, args.out / "torch_vs_brian2_sine.png",
                     title=f"sine task, float64: torch and brian2 ({args.target}) compute the same curve"))
