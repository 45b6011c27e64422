r"""Multi-task digit classification: sklearn's 8×8 digits and transformed variants.

The bias-learning study (Williams et al., ICLR 2025; docs/bias.md) trains *one* random network
with one bias vector per task on several image-classification tasks. Offline, the tasks here are
sklearn's ``load_digits`` (1797 images of 8×8 pixels, 16 grey levels, shipped with sklearn) and
deterministic transforms of it, each a different input–label map of the same difficulty:

=============  =====================================================================
``original``   pixels / 16, in [0, 1]
``permuted``   a fixed random permutation of the 64 pixels (seeded by ``transform_seed``)
``rotated``    the image rotated by 90° counter-clockwise
``inverted``   1 − pixel
``flipped``    mirrored left–right
``relabeled``  a fixed random permutation of the 10 labels (seeded by ``transform_seed``)
=============  =====================================================================

A trial is one image shown for ``n_steps`` steps (1 for a feed-forward network), with the loss
on the last step. The data are split once, with a fixed permutation, into a training part
(the first ``1 − test_fraction``) and a test part; :meth:`DigitsTask.sample` draws from the
training part only and :meth:`DigitsTask.test_set` returns the whole test part.

References
----------
Williams, Payeur, Ryoo, Jiralerspong, Perich, Mazzucato, Lajoie, "Expressivity of Neural
Networks with Random Weights and Learned Biases", arXiv:2407.00957 (ICLR 2025), Fig. 1B;
Pedregosa et al., JMLR 12 (2011), ``sklearn.datasets.load_digits``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from neuromorph.errors import ConfigError
from neuromorph.tasks.base import LossKind, TrialBatch, invalid, is_int, is_real

__all__ = ["DIGIT_VARIANTS", "DigitsTask"]

DIGIT_VARIANTS = ("original", "permuted", "rotated", "inverted", "flipped", "relabeled")
_SPLIT_SEED = 12345  #: the train/test split is the same for every variant and every run


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return (data.images / 16.0).astype(np.float64), data.target.astype(np.int64)


def transform(images: np.ndarray, labels: np.ndarray, variant: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``variant`` to (N, 8, 8) images in [0, 1] and (N,) labels; returns (N, 64), (N,)."""
    rng = np.random.default_rng(seed)
    if variant == "rotated":
        images = np.rot90(images, k=1, axes=(1, 2))
    elif variant == "flipped":
        images = images[:, :, ::-1]
    elif variant == "inverted":
        images = 1.0 - images
    flat = images.reshape(len(images), -1)
    if variant == "permuted":
        flat = flat[:, rng.permutation(flat.shape[1])]
    if variant == "relabeled":
        labels = rng.permutation(10)[labels]
    return np.ascontiguousarray(flat), labels


@dataclass(frozen=True)
class DigitsTask:
    """One variant of the 8×8 digits, as (inputs, class) trials.

    Parameters
    ----------
    variant : str
        One of :data:`DIGIT_VARIANTS`.
    n_steps : int
        Steps each image is shown (1 = a feed-forward pass); the loss is on the last step.
    dt : float
        Step in seconds (only sets the units of the network's time constants).
    test_fraction : float
        Fraction of the 1797 images held out for :meth:`test_set`, in (0, 1).
    transform_seed : int
        Seed of the pixel permutation (``permuted``) and label permutation (``relabeled``).
    """

    variant: str = "original"
    n_steps: int = 1
    dt: float = 1e-3
    test_fraction: float = 0.3
    transform_seed: int = 0

    def __post_init__(self) -> None:
        if self.variant not in DIGIT_VARIANTS:
            raise invalid("DigitsTask", "variant", self.variant, f"expected one of {list(DIGIT_VARIANTS)}")
        if not is_int(self.n_steps) or self.n_steps < 1:
            raise invalid("DigitsTask", "n_steps", self.n_steps, "expected an int >= 1")
        if not is_real(self.dt) or self.dt <= 0:
            raise invalid("DigitsTask", "dt", self.dt, "expected a float > 0 (seconds)")
        if not is_real(self.test_fraction) or not 0 < self.test_fraction < 1:
            raise invalid("DigitsTask", "test_fraction", self.test_fraction, "expected a float in (0, 1)")
        if not is_int(self.transform_seed) or self.transform_seed < 0:
            raise invalid("DigitsTask", "transform_seed", self.transform_seed, "expected an int >= 0")

    n_in = 64
    n_out = 10

    @property
    def loss(self) -> LossKind:
        return LossKind.CLASSIFICATION

    def _split(self) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        images, labels = _digits()
        x, y = transform(images, labels, self.variant, self.transform_seed)
        order = np.random.default_rng(_SPLIT_SEED).permutation(len(x))
        n_test = int(round(self.test_fraction * len(x)))
        test, train = order[:n_test], order[n_test:]
        return (x[train], y[train]), (x[test], y[test])

    def _trials(self, x: np.ndarray, y: np.ndarray) -> TrialBatch:
        inputs = torch.as_tensor(x, dtype=torch.float32).unsqueeze(0).expand(self.n_steps, -1, -1).contiguous()
        targets = torch.as_tensor(y).unsqueeze(0).expand(self.n_steps, -1).contiguous()
        mask = torch.zeros(self.n_steps, len(y), dtype=torch.float32)
        mask[-1] = 1.0
        return TrialBatch(inputs, targets, mask)

    def sample(self, batch_size: int, generator: torch.Generator) -> TrialBatch:
        """``batch_size`` training images drawn with replacement from ``generator``."""
        if not is_int(batch_size) or batch_size < 1:
            raise ConfigError(f"batch_size={batch_size!r} is invalid: expected an int >= 1")
        (x, y), _ = self._split()
        index = torch.randint(len(y), (batch_size,), generator=generator).numpy()
        return self._trials(x[index], y[index])

    def test_set(self) -> TrialBatch:
        """Every held-out image, in a fixed order."""
        _, (x, y) = self._split()
        return self._trials(x, y)
