"""ALIF e-prop on evidence accumulation, trained by NEST 3.10 and by the torch backend; compare them.

    python examples/nest_vs_torch_evidence.py [--iterations 90] [--batch-size 16] [--nest-threads 1] [--out runs]

Three runs of ``models/eprop_evidence.toml`` (100 neurons, 50 of them ALIF; softmax cross-entropy readout;
symmetric feedback; Adam; w_in, w_rec, w_out and b_out; the rate regulariser), float64:

* ``torch, batch rate``: the card as shipped, its regulariser on the batch's mean rate (Bellec et al. 2020);
* ``torch, sequence rate`` and ``NEST, sequence rate``: the regulariser on each sequence's own rate
  (``rule.regularization.rate = "sequence"``), the form NEST's e-prop models compute (docs/nest.md, Batches).

The two "sequence" runs compute the same numbers (the script prints the largest relative gap between their
loss curves); the "batch" run shows the card's own error beside them. It writes the three run files
(runs/evidence_*.h5), runs/nest_vs_torch_evidence_{loss,accuracy}.png and runs/nest_vs_torch_evidence.json.
A finished run file is reused (delete it to train again). Time on 2 cores: torch about 1 min per run, NEST
about 15-20 min (it presents the 16 sequences of a batch one after another, 2 252 steps each).
"""

import argparse
import json
from pathlib import Path

import numpy as np

from neuromorph.config import load_card
from neuromorph.experiment import train
from neuromorph.plots import compare_curves

ROOT = Path(__file__).resolve().parents[1]

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--iterations", type=int, default=90)
parser.add_argument("--batch-size", type=int, default=16)
parser.add_argument("--nest-threads", type=int, default=1)
parser.add_argument("--out", type=Path, default=Path("runs"))
args = parser.parse_args()

base = {"train.iterations": args.iterations, "train.batch_size": args.batch_size, "train.checkpoint_every": 10,
        "train.precision": "float64", "train.engine": "compiled"}
plan = {  # label: (file stem, backend, overrides)
    "torch, batch rate (the card)": ("evidence_torch_batch", "torch", {}),
    "torch, sequence rate": ("evidence_torch_sequence", "torch", {"rule.regularization.rate": "sequence"}),
    "NEST, sequence rate": ("evidence_nest_sequence", "nest", {"rule.regularization.rate": "sequence"}),
}
results, paths = {}, {}
for label, (stem, backend, over) in plan.items():
    spec = load_card(ROOT / "models" / "eprop_evidence.toml", {**base, **over})
    target = str(args.nest_threads) if backend == "nest" else None
    result = train(spec, out=args.out / f"{stem}.h5", backend=backend, target=target)
    paths[label] = result.path
    loss, acc = result.curves["loss"], result.curves["accuracy"]
    results[label] = {"file": str(result.path), "loss_first": float(loss[0]), "loss_last10": float(loss[-10:].mean()),
                      "error_last10": float(1.0 - acc[-10:].mean()), "loss": loss.tolist(), "accuracy": acc.tolist()}

seq_torch, seq_nest = (np.asarray(results[k]["loss"]) for k in ("torch, sequence rate", "NEST, sequence rate"))
gap = float(np.max(np.abs(seq_torch - seq_nest) / np.abs(seq_torch)))
print(f"{'run':<30} {'first loss':>10} {'loss (last 10)':>15} {'error (last 10)':>16}")
for label, r in results.items():
    print(f"{label:<30} {r['loss_first']:>10.4f} {r['loss_last10']:>15.3f} {r['error_last10']:>15.1%}")
print(f"largest relative gap between the torch and NEST 'sequence rate' loss curves: {gap:.1e}")
summary = {"iterations": args.iterations, "batch_size": args.batch_size, "nest_threads": args.nest_threads,
           "max_rel_loss_gap_torch_nest": gap, "runs": results}
(args.out / "nest_vs_torch_evidence.json").write_text(json.dumps(summary, indent=1))
title = f"evidence accumulation, ALIF e-prop, batch {args.batch_size}: NEST and torch"
for curve in ("loss", "accuracy"):
    print(compare_curves(paths, args.out / f"nest_vs_torch_evidence_{curve}.png", curve=curve, title=title))
