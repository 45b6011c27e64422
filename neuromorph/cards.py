r"""One card schema: every card neuromorph reads is a TOML file of the same top-level sections.

**Engine sections** say what the engine runs and mean the same in every card (parsed by
:mod:`neuromorph.config`): ``[task]``, ``[network]`` (with ``[network.neuron]``, a neuron family of
the registry, ``[network.readout]``, ``[network.init]``), ``[rule]`` (a rule of the registry, or a
study's rule), ``[optimizer]``, ``[train]`` and ``[hardware]``.

**Study sections**, at most one per card, hold what a study adds; their sub-tables are theirs:

============================  =============================================  ==========================
section                       what it holds                                  the card also has
============================  =============================================  ==========================
``[bias_study]``              bias-only tuning (``neuromorph bias``)          the engine sections
``[contrastive]``             the schedule, ``[contrastive.phases]``          ``[task]``, ``[network]``,
                              (``neuromorph contrastive``)                    ``[rule]``
``[theory_compare]``          ``[theory_compare.modes]``, ``.rflo``, ...      nothing else
                              (``neuromorph theory compare``)
``[sweep]``                   ``[sweep.cards]``, ``.grid``, ``.set``, ...     nothing else
                              (``neuromorph sweep``)
============================  =============================================  ==========================

:func:`kind` tells a card's kind from its sections; :func:`neuromorph.anycard.load_any_card` reads any
card as the object its command takes (it imports every study's loader, so it lives apart from the schema,
which those loaders import). A section outside the schema, two study sections, or a section the card's kind does
not have is a :class:`~neuromorph.errors.ConfigError` naming the file, the section and where it goes.
"""

from __future__ import annotations

from neuromorph.errors import ConfigError

ENGINE = ("task", "network", "rule", "optimizer", "train", "hardware")
STUDIES = ("bias_study", "contrastive", "theory_compare", "sweep")
#: the top-level sections of each kind of card
LAYOUTS = {
    "run": ENGINE,
    "bias": (*ENGINE, "bias_study"),
    "contrastive": ("task", "network", "rule", "contrastive"),
    "theory": ("theory_compare",),
    "sweep": ("sweep",),
}
_KIND_OF_STUDY = {"bias_study": "bias", "contrastive": "contrastive", "theory_compare": "theory", "sweep": "sweep"}
#: sections of earlier layouts and where they live now
_MOVED = {"phases": "contrastive.phases", "modes": "theory_compare.modes", "rflo": "theory_compare.rflo",
          "population": "theory_compare.population", "sgd": "theory_compare.sgd", "rank": "theory_compare.rank",
          "order": "theory_compare.order", "rates": "theory_compare.rates", "cards": "sweep.cards",
          "grid": "sweep.grid", "set": "sweep.set", "lyapunov": "sweep.lyapunov", "flossing": "sweep.flossing"}


def kind(table: dict, where: str = "<card>") -> str:
    """The card's kind ("run", "bias", "contrastive", "theory" or "sweep") from its study section."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: a card is a table of sections, got {table!r}")
    studies = [s for s in STUDIES if s in table]
    if len(studies) > 1:
        raise ConfigError(f"{where}: a card holds at most one study section, this one has "
                          f"{', '.join(f'[{s}]' for s in studies)}")
    return _KIND_OF_STUDY[studies[0]] if studies else "run"


#: the command that reads each kind
COMMANDS = {"run": "neuromorph train CARD --out FILE.h5", "bias": "neuromorph bias CARD --out DIR",
            "contrastive": "neuromorph contrastive train CARD --out FILE.h5",
            "theory": "neuromorph theory compare CARD --out FILE.h5", "sweep": "neuromorph sweep CARD --out DIR"}


def check_layout(table: dict, expected: str, where: str = "<card>") -> None:
    """Refuse a top-level section that a card of kind ``expected`` does not have, saying where it belongs."""
    for name in table:
        if name in _MOVED:
            raise ConfigError(f"{where}: [{name}] is now [{_MOVED[name]}] (one card schema: docs/cards.md)")
    found = kind(table, where)
    if found != expected and not (expected == "run" and found == "bias"):
        raise ConfigError(f"{where} is a {found} card, not a {expected} card (its study section decides); run "
                          f"`{COMMANDS[found].replace('CARD', where)}`")
    allowed = LAYOUTS[expected if found != "bias" else "bias"]
    for name in table:
        if name not in allowed:
            raise ConfigError(f"{where}: unknown section [{name}]; a {expected} card has "
                              f"{', '.join(f'[{s}]' for s in allowed)}")


def study_section(table: dict, name: str, where: str) -> dict:
    """A copy of the study section ``[name]`` ({} if absent); not a table is a ConfigError."""
    value = table.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{name}] must be a table, got {value!r}")
    return dict(value)
