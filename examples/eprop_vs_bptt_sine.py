"""Train the sine pattern-generation task with e-prop and with BPTT; plot both learning curves.

    python examples/eprop_vs_bptt_sine.py [--iterations 300] [--out runs]

Writes runs/eprop_sine.h5, runs/bptt_sine.h5, their figures, and runs/eprop_vs_bptt_sine.png.
"""

import argparse
from pathlib import Path

from neuromorph.config import load_card
from neuromorph.experiment import train
from neuromorph.plots import compare_curves, plot_run

ROOT = Path(__file__).resolve().parents[1]

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--iterations", type=int, default=300)
parser.add_argument("--out", type=Path, default=Path("runs"))
args = parser.parse_args()

runs = {}
for label, card in (("e-prop (random feedback)", "eprop_sine"), ("BPTT", "bptt_sine")):
    spec = load_card(ROOT / "models" / f"{card}.toml", {"train.iterations": args.iterations})
    runs[label] = train(spec, out=args.out / f"{card}.h5").path
    plot_run(runs[label])
print(compare_curves(runs, args.out / "eprop_vs_bptt_sine.png", title="sine task: e-prop against BPTT"))
