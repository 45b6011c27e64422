"""The README's ``python`` blocks run as written (shrunk where noted), so they cannot rot.

Every ```` ```python ```` block of README.md is executed, in order, in one namespace, from an empty working
directory (the cards are found as the package's shipped data). :data:`SHRINK` lists the only edits: each is an
exact piece of the README and its replacement, and the test fails if the README no longer contains it (update
the entry with the README).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"

#: (exact text of a README block, what the test runs instead): the training run of "Using it from Python", shrunk
#: from 100 iterations to 2 (the rest of the snippet is run unchanged).
SHRINK = (('{"train.iterations": 100, "rule.feedback": "symmetric"}',
           '{"train.iterations": 2, "rule.feedback": "symmetric"}'),)


def readme_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def test_the_readme_has_python_blocks_and_every_shrink_applies():
    blocks = "\n".join(readme_blocks())
    assert len(readme_blocks()) >= 2, "README.md lost its python examples"
    for text, _ in SHRINK:
        assert text in blocks, f"README.md no longer contains {text!r}: update SHRINK in {__file__}"


def test_the_readme_snippets_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in readme_blocks():
        for text, shrunk in SHRINK:
            block = block.replace(text, shrunk)
        exec(compile(block, str(README), "exec"), namespace)
    # what the snippets say they give
    assert len(namespace["result"].curves["loss"]) == 2 and (tmp_path / "runs" / "sine_sym.h5").exists()
    rec = namespace["rec"]
    assert rec.readout.shape == (500, 2, 1) and rec.spikes.shape == (500, 2, 20)
    assert set(rec.spikes.unique().tolist()) <= {0.0, 1.0}
    loss = namespace["replayed"].curves["loss"]
    assert len(loss) == 5 and all(map(torch.isfinite, torch.as_tensor(loss)))
