"""Port a small network trained under the loihi1 profile to chip formats, and run it in brian2-loihi.

    python examples/port_to_loihi.py [--out runs/port] [--iterations 20]

Runs these commands (printed as they run; docs/export.md shows them with measured results):

1. ``neuromorph train models/eprop_sine_chip.toml --profile loihi1 --mode offline ...``: e-prop on the
   host (Loihi 1 cannot compute its pseudo-derivative), weights deployed on loihi1's integer grids;
2. ``neuromorph export RUN.h5 --nir ... --chip-image ... --brian2-loihi DIR``;
3. ``python DIR/run.py``: the network in the brian2-loihi emulator, compared spike for spike with
   neuromorph's own loihi1 simulation of the run's last inputs (exit status 1 if they differ);
4. ``neuromorph train ... --profile loihi2`` (on-chip e-prop) and ``neuromorph export RUN.h5
   --loihi2-rules RULES.txt``: the run's rule as Loihi sum-of-products strings, or the one-line reason
   it cannot be written.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["task.n_steps=200", "network.n_rec=32", "rule.update_interval=50", "train.precision=\"float64\""]

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", type=Path, default=Path("runs/port"))
parser.add_argument("--iterations", type=int, default=20)
args = parser.parse_args()
args.out.mkdir(parents=True, exist_ok=True)
sets = [x for item in SMALL + [f"train.iterations={args.iterations}", f"train.checkpoint_every={args.iterations}"]
        for x in ("--set", item)]


def step(*argv, check=True):
    print("$", " ".join(str(a) for a in argv), flush=True)
    start = time.perf_counter()
    done = subprocess.run([str(a) for a in argv], cwd=ROOT, check=False)
    print(f"  ({time.perf_counter() - start:.1f} s, exit {done.returncode})", flush=True)
    if check and done.returncode != 0:
        sys.exit(done.returncode)
    return done.returncode


neuromorph = [sys.executable, "-m", "neuromorph"]
l1, l2, port = args.out / "l1.h5", args.out / "l2.h5", args.out / "l1_brian2_loihi"
step(*neuromorph, "train", "models/eprop_sine_chip.toml", "--profile", "loihi1", "--mode", "offline", "--out", l1,
     "--no-progress", "--force", *sets)
step(*neuromorph, "export", l1, "--nir", args.out / "l1.nir", "--chip-image", args.out / "l1_image.h5",
     "--brian2-loihi", port)
step(sys.executable, port / "run.py")
step(*neuromorph, "train", "models/eprop_sine_chip.toml", "--profile", "loihi2", "--out", l2, "--no-progress",
     "--force", *sets)
if step(*neuromorph, "export", l2, "--loihi2-rules", args.out / "l2_rules.txt", check=False) == 0:
    print((args.out / "l2_rules.txt").read_text())
