"""Summary and figures of a gain sweep (``neuromorph sweep-report DIR``).

For every (task, rule, gain, flossing) the learning rate is picked as in the study (Zhang, Liu & Liu,
docs/gain.md): the one with the lowest mean final loss over seeds, the final loss being the mean over
the last 10 % of iterations. The figures are drawn by :mod:`neuromorph.plots.sweep` (written
into DIR: ``gain_loss_<task>.png``, ``gain_lyapunov.png``, ``gain_flossing.png``);
``summary.json`` holds the numbers behind them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from neuromorph.errors import ConfigError
from neuromorph.plots.sweep import RULE_LABELS, sweep_figures
from neuromorph.sweep.run import curves, read_results

__all__ = ["RULE_LABELS", "summarise", "sweep_report"]


def _final(loss: np.ndarray) -> float:
    return float(np.mean(loss[-max(1, len(loss) // 10):]))


def summarise(out_dir: str | Path) -> dict:
    """Group the complete runs by (task, rule, gain, flossing), pick the best lr, and collect curves and LEs."""
    results = read_results(out_dir)
    groups: dict[tuple, dict[float, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for record in results.values():
        if record.get("status") != "complete":
            continue
        p = record["point"]
        record = {**record, "loss": curves(out_dir, record)["loss"]}
        groups[(p["task"], p["rule"], p["gain"], p["flossing"])][p["lr"]].append(record)
    if not groups:
        raise ConfigError(f"{out_dir} has no complete runs to report")
    summary = {}
    for key, by_lr in sorted(groups.items()):
        best_lr = min(by_lr, key=lambda lr: np.mean([_final(r["loss"]) for r in by_lr[lr]]))
        runs = sorted(by_lr[best_lr], key=lambda r: r["point"]["seed"])
        n = min(len(r["loss"]) for r in runs)
        loss = np.stack([r["loss"][:n] for r in runs])
        summary[key] = {
            "lr": best_lr,
            "seeds": [r["point"]["seed"] for r in runs],
            "loss_mean": loss.mean(0),
            "loss_sd": loss.std(0),
            "final_loss": [_final(r["loss"]) for r in runs],
            "le_before": [r["lyapunov_before"][0] for r in runs],
            "le_after": [r["lyapunov_after"][0] for r in runs],
            "le_flossed": [r["lyapunov_flossed"][0] for r in runs if "lyapunov_flossed" in r],
        }
    return summary


def sweep_report(out_dir: str | Path) -> list[Path]:
    """Write the figures and ``summary.json`` into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    summary = summarise(out_dir)
    written = sweep_figures(summary, out_dir)
    table = {
        "/".join(map(str, k)): {
            "lr": v["lr"], "seeds": v["seeds"], "final_loss_mean": float(np.mean(v["final_loss"])),
            "final_loss_sd": float(np.std(v["final_loss"])), "le_max_before": float(np.mean(v["le_before"])),
            "le_max_after": float(np.mean(v["le_after"])),
            **({"le_max_flossed": float(np.mean(v["le_flossed"]))} if v["le_flossed"] else {}),
        }
        for k, v in summary.items()
    }
    table["units"] = {"lr": "optimizer.lr", "final_loss_mean": "task loss (docs/run_files.md), mean over seeds",
                      "final_loss_sd": "task loss, sd over seeds",
                      **{f"le_max_{k}": f"largest Lyapunov exponent {w}, 1/step (natural log), mean over seeds"
                         for k, w in (("before", "at initialisation"), ("after", "after training"),
                                      ("flossed", "after pre-flossing"))}}
    path = out_dir / "summary.json"
    path.write_text(json.dumps(table, indent=1))
    written.append(path)
    return written
