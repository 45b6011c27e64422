"""The torch backend: batched, fast, the default."""

from neuromorph.backends.torch.simulate import Lowered, NetworkState, Recording, differentiable_run, lower, simulate
from neuromorph.backends.torch.train import SequenceResult, train_sequence

__all__ = ["Lowered", "NetworkState", "Recording", "SequenceResult", "differentiable_run", "lower", "simulate", "train_sequence"]
