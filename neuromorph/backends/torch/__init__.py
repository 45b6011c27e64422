"""The torch backend: batched, the reference path."""

from neuromorph.backends.base import Lowered, NetworkState, Recording, SequenceResult, lower
from neuromorph.backends.torch.simulate import differentiable_run, simulate
from neuromorph.backends.torch.train import train_sequence

__all__ = ["Lowered", "NetworkState", "Recording", "SequenceResult", "differentiable_run", "lower", "simulate",
           "train_sequence"]
