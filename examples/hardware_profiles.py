"""e-prop on the sine task under chip profiles, and a sweep of weight bits with and without stochastic rounding.

    python examples/hardware_profiles.py [--iterations 100] [--sweep-iterations 60] [--out runs/hardware]

Writes one HDF5 run per profile and per sweep point (rerunning skips finished runs), and
<out>/hardware_curves.png (learning curves under ideal, loihi2, spinnaker2, brainscales2) and
<out>/hardware_weight_bits.png (relative final loss against weight bits, loihi2 arithmetic).
About 8 + 8 minutes on 2 cores with the defaults.
"""

import argparse
from pathlib import Path

from neuromorph.config import load_card
from neuromorph.experiment import train
from neuromorph.plots import compare_curves
from neuromorph.plots.hardware import final_loss, plot_weight_bits_sweep

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "models" / "eprop_sine_chip.toml"

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--iterations", type=int, default=100)
parser.add_argument("--sweep-iterations", type=int, default=60)
parser.add_argument("--bits", type=int, nargs="+", default=[2, 3, 4, 6, 8, 12, 16])
parser.add_argument("--out", type=Path, default=Path("runs/hardware"))
args = parser.parse_args()
args.out.mkdir(parents=True, exist_ok=True)

curves = {}
for profile in ("ideal", "loihi2", "spinnaker2", "brainscales2"):
    spec = load_card(CARD, {"train.iterations": args.iterations, "hardware.profile": profile})
    curves[profile] = train(spec, out=args.out / f"sine_{profile}.h5").path
print(compare_curves(curves, args.out / "hardware_curves.png", title="e-prop on the sine task under chip profiles"))

# The sweep uses a shorter task (300 steps) so that 2 x len(bits) runs take minutes.
short = {"train.iterations": args.sweep_iterations, "task.n_steps": 300, "rule.update_interval": 50}
ideal = train(load_card(CARD, {**short, "hardware.profile": "ideal"}), out=args.out / "bits_ideal.h5").path
sweep: dict[str, dict[int, Path]] = {"stochastic rounding": {}, "nearest rounding": {}}
for label, rounding in (("stochastic rounding", "stochastic"), ("nearest rounding", "nearest")):
    for bits in args.bits:
        spec = load_card(CARD, {**short, "hardware.profile": "loihi2", "hardware.rounding": rounding,
                                "hardware.override.synapse.weight_bits": bits})
        sweep[label][bits] = train(spec, out=args.out / f"bits_{rounding}_{bits}.h5", progress=False).path
        print(f"{label:<20} {bits:>2} bits: final/initial loss {final_loss(sweep[label][bits]):.3f}")
print(plot_weight_bits_sweep(sweep, args.out / "hardware_weight_bits.png", reference=final_loss(ideal)))
