"""What the NEST backend runs, checked at setup without importing NEST: anything else fails before a simulation.

NEST 3.10's e-prop models (``eprop_iaf_bsshslm_2020``, ``eprop_iaf_adapt_bsshslm_2020``,
``eprop_readout_bsshslm_2020``, ``eprop_synapse_bsshslm_2020``; Bellec et al. 2020's tutorial models)
express one network: LIF or ALIF neurons with a piecewise-linear pseudo-derivative, a leaky readout
(mean squared error or softmax cross-entropy), e-prop with an update at the end of every sequence, the
firing-rate regulariser, weights (and the readout bias, as an input current) as the learned parameters.
Every refusal is one line that names the feature and a backend that runs it (:class:`UnsupportedFeatureError`). Checks that need the batch (its
size, inputs and mask) run before the first sequence is simulated (:func:`check_batch`).
"""

from __future__ import annotations

import importlib.util

import torch

from neuromorph.dynamics.alif import ALIFParameters
from neuromorph.dynamics.lif import LIFParameters
from neuromorph.errors import ConfigError
from neuromorph.network import NetworkSpec, Parameters
from neuromorph.plasticity.base import Target
from neuromorph.plasticity.eprop import EProp
from neuromorph.types import TrialBatch

#: what the backend learns: the weight matrices NEST's e-prop synapses learn, and the readout bias, presented as the
#: readouts' input current with its gradient from the recorded readout (:mod:`neuromorph.backends.nest.backend`)
NEST_TARGETS = frozenset({Target.W_IN, Target.W_REC, Target.W_OUT, Target.B_OUT})
#: the install hint when NEST is missing
INSTALL = "pip install 'neuromorph[nest]' (nest-simulator 3.10) or use --backend torch"


class UnsupportedFeatureError(ConfigError):
    """A model feature NEST 3.10's e-prop models cannot express; the message names it and the way out."""


def _no(feature: str, fix: str = "run it with --backend torch") -> UnsupportedFeatureError:
    return UnsupportedFeatureError(f"the nest backend cannot express {feature}; {fix}")


def check_supported(spec: NetworkSpec, rule, chip, n_steps: int | None = None) -> None:
    """Raise :class:`UnsupportedFeatureError` for what :mod:`neuromorph.backends.nest.network` cannot lower (then:
    is NEST installed?).

    ``rule`` ``None`` checks a forward simulation only.
    """
    if chip is not None:
        raise _no("hardware profiles (a chip's integer arithmetic and grids)", "drop [hardware] or use --backend torch")
    if not spec.spiking:
        raise _no(f"rate units (network.neuron model {type(spec.neuron).model!r}; NEST's e-prop neurons spike)")
    if type(spec.neuron) not in (LIFParameters, ALIFParameters):
        raise _no(f"the {type(spec.neuron).model!r} neuron (it lowers 'lif' to eprop_iaf_bsshslm_2020 and 'alif' "
                  "to eprop_iaf_adapt_bsshslm_2020; current-based LIF and other families have no NEST e-prop model)")
    if spec.readout.tau_out <= 0:
        raise _no("an instantaneous readout (network.readout.tau_out = 0; eprop_readout_bsshslm_2020 needs tau_m > 0)")
    if rule is None:
        _require_nest()
        return
    if type(rule) is not EProp:
        raise _no(f"the {getattr(rule, 'name', type(rule).__name__)!r} rule (NEST 3.10's e-prop synapses run "
                  "e-prop only: BPTT, RFLO, contrastive and reward rules are torch's)")
    if rule.update_interval is not None and (n_steps is None or rule.update_interval != n_steps):
        raise _no(f"updates every rule.update_interval = {rule.update_interval} steps (online K-step updates; "
                  "NEST's bsshslm_2020 synapses update once per sequence)", "leave rule.update_interval out or use "
                  "--backend torch")
    extra = sorted(t.value for t in rule.targets - NEST_TARGETS)
    if extra:
        raise _no(f"learning {', '.join(extra)} (NEST's e-prop learns synapse weights: w_in, w_rec, w_out; and "
                  "the readout bias b_out)", "set rule.targets to those or use --backend torch")
    if rule.split_signed:
        raise _no("split-signed learning signals (rule.split_signed, a chip's unsigned traces)")
    _require_nest()


def check_batch(spec: NetworkSpec, rule: EProp, batch: TrialBatch, params: Parameters) -> int:
    """Refuse a batch NEST cannot present; returns the learning window (the masked steps at the end).

    * inputs must be spikes (0/1);
    * the mask must be 0/1, the same in every sequence, and 1 on a block of steps that ends the sequence
      (NEST's ``eprop_learning_window``);
    * the firing-rate regulariser of the batch's mean rate (``rule.regularization.rate = "batch"``, Bellec et al.
      2020, Methods) with ``B > 1`` sequences: NEST regularises each sequence's own rate (``rate = "sequence"``);
    * biases and threshold offsets must be zero (NEST's neurons have no such term per neuron).
    """
    x = batch.inputs
    if not bool(((x == 0) | (x == 1)).all()):
        raise _no("real-valued inputs (NEST's inputs are spike trains: the task's inputs must be 0/1)")
    mask = batch.mask
    if not bool(((mask == 0) | (mask == 1)).all()) or not bool((mask == mask[:, :1]).all()):
        raise _no("a mask that is not 0/1 or differs between the sequences of a batch (NEST has one learning "
                  "window for all)")
    m = mask[:, 0]
    window = int(m.sum())
    if window == 0 or not bool((m[-window:] == 1).all()):
        raise _no("a mask that is not one block ending the sequence (NEST's eprop_learning_window is the last "
                  "steps of every sequence)")
    reg = rule.regularization
    if reg.strength > 0 and batch.batch_size > 1 and not reg.per_sequence:
        raise _no(f"the firing-rate regulariser of the batch's mean rate with train.batch_size = {batch.batch_size} "
                  "(NEST regularises each sequence's own rate)", 'set rule.regularization.rate = "sequence" '
                  "(NEST's form), train.batch_size = 1, or use --backend torch")
    for name in ("bias", "threshold"):
        value = getattr(params, name)
        if value is not None and bool(torch.as_tensor(value).ne(0).any()):
            raise _no(f"a non-zero {name} (NEST's neurons have no such parameter per neuron and sequence)")
    return window


def nest_available() -> bool:
    """Whether ``import nest`` would find NEST (without importing it)."""
    return importlib.util.find_spec("nest") is not None


def _require_nest() -> None:
    if not nest_available():
        raise ConfigError(f"the nest backend needs NEST 3.10 (import nest failed): {INSTALL}")
