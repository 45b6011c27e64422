"""The two classification data sets of the contrastive experiments: XOR and sklearn's digits (no download).

Both return inputs in [0, 1] and one-hot targets; digits is split into train and test with an
explicit generator (stratified by class), XOR is its own test set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from neuromorph.errors import ConfigError

TASKS = ("xor", "digits")


@dataclass(frozen=True)
class Dataset:
    x_train: torch.Tensor
    y_train: torch.Tensor  #: one-hot
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def n_in(self) -> int:
        return self.x_train.shape[1]

    @property
    def n_out(self) -> int:
        return self.y_train.shape[1]


def load_task(name: str, test_fraction: float, gen: np.random.Generator, dtype=torch.float32) -> Dataset:
    """``xor``: the four patterns, two output classes; ``digits``: 8x8 images / 16, ten classes."""
    if name == "xor":
        x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
        labels = np.array([0, 1, 1, 0])
        y = np.eye(2)[labels]
        t = lambda a: torch.as_tensor(a, dtype=dtype)
        return Dataset(t(x), t(y), t(x), t(y))
    if name == "digits":
        try:
            from sklearn.datasets import load_digits
        except ImportError:  # pragma: no cover - a dependency of the package
            raise ConfigError("task.name = 'digits' needs scikit-learn: pip install -c constraints.txt scikit-learn") \
                from None
        if not 0 < test_fraction < 1:
            raise ConfigError(f"task.test_fraction must lie in (0, 1), got {test_fraction!r}")
        d = load_digits()
        x, labels = d.data / 16.0, d.target
        test = np.zeros(len(labels), dtype=bool)
        for c in np.unique(labels):
            idx = gen.permutation(np.flatnonzero(labels == c))
            test[idx[:round(test_fraction * len(idx))]] = True
        y = np.eye(10)[labels]
        t = lambda a: torch.as_tensor(a, dtype=dtype)
        return Dataset(t(x[~test]), t(y[~test]), t(x[test]), t(y[test]))
    raise ConfigError(f"task.name must be one of {TASKS}, got {name!r}")
