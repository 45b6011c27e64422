"""neurogym tasks as trial-aligned batches: 2AF (``PerceptualDecisionMaking-v0``) and DMS.

``neurogym.Dataset`` concatenates trials into a stream and cuts windows, so trials are not
aligned across a batch (neurogym 2.3.1). We instead call ``env.unwrapped.new_trial()`` once
per batch element and stack ``ob`` / ``gt``: every trial starts at step 0. Under the default
timing both tasks have a fixed length (22 and 32 steps at dt = 100 ms; Zhang, Liu & Liu, docs/gain.md;
`tests/gain/test_tasks_gain.py`); a task whose trials differ in length is rejected rather than padded.

neurogym is an optional extra (``pip install -c constraints.txt -e ".[tasks]"``) and is imported
only when a neurogym task is built.

References
----------
Molano-Mazón et al., "NeuroGym: An open resource for developing and sharing neuroscience tasks",
PsyArXiv (2022); neurogym 2.3.1.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from neuromorph.errors import ConfigError
from neuromorph.tasks.base import LossKind, TrialBatch, invalid, is_int, is_real

__all__ = ["ENVS", "NeurogymTask", "make_env"]

#: The environments of the initial-gain study (Zhang, Liu & Liu, docs/gain.md), by their short names.
ENVS = {"2af": "PerceptualDecisionMaking-v0", "dms": "DelayMatchSample-v0"}


@functools.lru_cache(maxsize=16)
def make_env(env_id: str, dt_ms: float):
    """The unwrapped neurogym environment ``env_id`` at ``dt_ms`` (default kwargs otherwise)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import gymnasium
            import neurogym  # noqa: F401  (registers the environments)
    except ImportError as exc:
        raise ConfigError(
            f"neurogym tasks need the 'tasks' extra ({exc.name} is missing): "
            'pip install -c constraints.txt -e ".[tasks]"'
        ) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return gymnasium.make(env_id, dt=dt_ms).unwrapped
    except gymnasium.error.Error as exc:
        raise ConfigError(f"neurogym has no environment {env_id!r} ({exc})") from None


@dataclass(frozen=True)
class NeurogymTask:
    r"""A neurogym environment with default settings, trial-aligned, classification over all steps.

    ``env`` is ``"2af"``, ``"dms"`` or a full neurogym id. Inputs are the observations
    (T, B, obs_dim), targets the ground-truth action (T, B) at every step (0 = fixate), and the
    mask is 1 everywhere: cross-entropy over all time steps, as in the study's
    ``neurogym.Dataset`` training (Zhang, Liu & Liu, docs/gain.md).

    Randomness: :meth:`sample` draws one 63-bit seed from the generator (``torch.randint``),
    seeds the environment's numpy ``RandomState`` with it, then draws the B trials in order.
    Equal generators give equal batches.

    Parameters
    ----------
    env : str
        ``"2af"`` (PerceptualDecisionMaking-v0), ``"dms"`` (DelayMatchSample-v0) or an id.
    dt : float
        Step in seconds (neurogym's default 0.1). The environment scales its noise with dt.
    """

    env: str = "2af"
    dt: float = 0.1

    def __post_init__(self) -> None:
        if not isinstance(self.env, str) or not self.env:
            raise invalid("NeurogymTask", "env", self.env, f"expected one of {sorted(ENVS)} or a neurogym id")
        if not is_real(self.dt) or self.dt <= 0:
            raise invalid("NeurogymTask", "dt", self.dt, "expected a finite float > 0 (seconds)")

    @property
    def env_id(self) -> str:
        return ENVS.get(self.env, self.env)

    def environment(self):
        """The (cached) unwrapped environment."""
        return make_env(self.env_id, round(self.dt * 1000.0, 9))

    @property
    def n_in(self) -> int:
        return int(self.environment().observation_space.shape[0])

    @property
    def n_out(self) -> int:
        return int(self.environment().action_space.n)

    @property
    def loss(self) -> LossKind:
        return LossKind.CLASSIFICATION

    @property
    def n_steps(self) -> int:
        env = self.environment()
        env.seed(0)
        env.new_trial()
        return int(env.ob.shape[0])

    def sample(self, batch_size: int, generator: torch.Generator) -> TrialBatch:
        """Draw ``batch_size`` aligned trials: inputs (T, B, n_in) float32, targets (T, B) int64, mask ones."""
        if not is_int(batch_size) or batch_size < 1:
            raise ConfigError(f"batch_size={batch_size!r} is invalid: expected an int >= 1")
        if not isinstance(generator, torch.Generator):
            raise ConfigError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        env = self.environment()
        env.seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        obs, gts = [], []
        for _ in range(batch_size):
            env.new_trial()
            obs.append(np.asarray(env.ob, dtype=np.float32))
            gts.append(np.asarray(env.gt, dtype=np.int64))
        lengths = {len(o) for o in obs}
        if len(lengths) != 1:
            raise ConfigError(
                f"{self.env_id} produced trials of lengths {sorted(lengths)}; trial-aligned batches need a "
                "fixed-length timing (use the default timing)"
            )
        inputs = torch.from_numpy(np.stack(obs, axis=1))
        targets = torch.from_numpy(np.stack(gts, axis=1))
        return TrialBatch(inputs=inputs, targets=targets, mask=torch.ones(targets.shape, dtype=torch.float32))
