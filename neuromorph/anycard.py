"""Read any card as the object its command takes (the one card schema: :mod:`neuromorph.cards`, docs/cards.md)."""

from __future__ import annotations

from pathlib import Path

from neuromorph.bias.study import load_study
from neuromorph.cards import kind
from neuromorph.config import load_card
from neuromorph.contrastive.card import load_contrastive_card
from neuromorph.data import find_file, shipped_file
from neuromorph.sweep.spec import load_sweep
from neuromorph.theory_compare.card import load_compare_card
from neuromorph.tomlfile import read_toml

#: the loader of each kind of card
LOADERS = {"run": load_card, "bias": load_study, "contrastive": load_contrastive_card, "theory": load_compare_card,
           "sweep": load_sweep}


def load_any_card(path: str | Path):
    """Any card: a RunSpec, a bias Study, a ContrastiveCard, a CompareCard or a SweepSpec, by its study section."""
    path = Path(path)
    path = path if path.exists() else shipped_file("sweeps", path) or find_file("models", path)
    table, _ = read_toml(path, "card")
    return LOADERS[kind(table, str(path))](path)
