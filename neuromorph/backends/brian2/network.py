r"""A network spec and an e-prop rule lowered to brian2 objects, batched as copies of the network.

A batch of *B* trials runs as *B* disconnected copies in one simulation: group index
:math:`b\,n + j` is neuron *j* of trial *b*, and each synapse connects neurons of the same copy.
The weights are shared (each copy holds the same values), the eligibility and the accumulators
are per copy, and the gradient of an update window is their sum over copies, read by Python and
handed to the same optimiser (:class:`~neuromorph.plasticity.optim.Learner`) as the torch
backend. Inputs, targets and masks reach the simulation as 2-D ``TimedArray`` s; the learning
signal is computed inside brian2 from the readout through a feedback ``Synapses`` object with a
summed variable, so the third factor never leaves compiled code. The code of every stage comes
from :mod:`.equations`.

Targets: ``numpy`` and ``cython`` (runtime; one ``Network`` is built once, ``store`` d, and
``restore`` d before each sequence, so cython compiles once) and ``cpp_standalone`` (one build;
each sequence is one run of the binary with the weights and the trials passed as ``run_args``,
so nothing is recompiled).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Hashable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from neuromorph.backends.brian2 import equations as eq
from neuromorph.backends.brian2.functions import functions
from neuromorph.backends.brian2.support import family_code, rule_code
from neuromorph.hardware.numerics import ChipNumerics
from neuromorph.network import NetworkSpec, Parameters
from neuromorph.plasticity import Target
from neuromorph.plasticity.traces import TraceConstants

#: The runtime code-generation targets compile their cython into this directory (not the shared ~/.cython).
CACHE_DIR = Path(os.environ.get("NEUROMORPH_BRIAN2_CACHE", Path.home() / ".cache" / "neuromorph" / "brian2"))


@dataclass(frozen=True)
class Layout:
    """What is built: sizes, batch copies, steps, learned targets, loss and what is recorded."""

    spec: NetworkSpec
    batch: int
    n_steps: int
    targets: frozenset[Target]  #: empty: forward simulation only
    classification: bool
    record: bool  #: rule state of batch copy 0 (and the membrane, when not learning)
    rule: type | None = None  #: the rule's class (its :data:`.rules.RULE_CODE` entry); None: forward simulation
    extras: Hashable = None  #: the rule's layout extras (:attr:`.rules.RuleCode.extras`: RFLO's decay)


def _all_pairs(batch: int, n_pre: int, n_post: int) -> tuple[np.ndarray, np.ndarray]:
    """Pre and post indices, ordered (copy, post, pre) so accumulators reshape to (B, n_post, n_pre)."""
    b, post, pre = np.meshgrid(np.arange(batch), np.arange(n_post), np.arange(n_pre), indexing="ij")
    return (b * n_pre + pre).ravel(), (b * n_post + post).ravel()


#: one brian2 step must compute what one torch step computes: no algebraic rewriting of the expressions
#: by brian2's optimiser, no -ffast-math reassociation by the C++ compiler, float64 throughout
_PREFS = {"codegen.loop_invariant_optimisations": False,
          "codegen.cpp.extra_compile_args_gcc": ["-w", "-O3", "-march=native", "-std=c++11"],
          "core.default_float_dtype": np.float64}


@contextmanager
def preferences(b2, target: str):
    """brian2's global preferences as neuromorph's generated code needs them (:data:`_PREFS`, the target and
    the cython cache), restored on exit. Runtime targets generate their code at every ``run``, so wrap
    builds and runs alike."""
    wanted = dict(_PREFS)
    if target != "cpp_standalone":
        wanted |= {"codegen.target": target, "codegen.runtime.cython.cache_dir": str(CACHE_DIR)}
    saved = {key: b2.prefs[key] for key in wanted}
    try:
        for key, value in wanted.items():
            b2.prefs[key] = value
        yield
    finally:
        for key, value in saved.items():
            b2.prefs[key] = value


class Device:
    """brian2's global device for one network: runtime, or a cpp_standalone project in ``directory``.

    A standalone project goes to a temporary directory unless one is given; :meth:`close` resets
    brian2 to the runtime device (one standalone build per process at a time) and removes the
    temporary project.
    """

    def __init__(self, b2, target: str, directory: str | os.PathLike[str] | None, prefix: str) -> None:
        self.b2, self.standalone = b2, target == "cpp_standalone"
        self._owns_directory = directory is None and self.standalone
        self.directory = Path(tempfile.mkdtemp(prefix=prefix)) if self._owns_directory else \
            (Path(directory) if directory is not None else None)
        if self.standalone:
            b2.set_device("cpp_standalone", build_on_run=False, directory=str(self.directory))
        else:
            b2.set_device("runtime")

    def build(self) -> None:
        """Compile the standalone project, saying so first: brian2 prints nothing while the C++ compiles."""
        print(f"neuromorph: building the brian2 cpp_standalone project in {self.directory} (compiling C++: a minute "
              "or two on a small machine, with no progress shown)", file=sys.stderr, flush=True)
        self.b2.device.build(directory=str(self.directory), compile=True, run=False)

    def close(self) -> None:
        if self.standalone:
            self.b2.device.reinit()
            self.b2.device.activate()
            self.b2.set_device("runtime")
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)


class Brian2Network:
    """The brian2 objects of one :class:`Layout` on one code-generation target."""

    def __init__(self, layout: Layout, consts: TraceConstants, chip: ChipNumerics | None, target: str,
                 directory: str | os.PathLike[str] | None = None) -> None:
        import brian2 as b2

        self.b2, self.layout, self.target = b2, layout, target
        self.device = Device(b2, target, directory, "neuromorph-b2-")
        self.standalone, self.directory = self.device.standalone, self.device.directory
        with self.prefs():
            self._build(layout, consts, chip)

    def close(self) -> None:
        self.device.close()

    def prefs(self):
        """brian2's global preferences as this network needs them, restored afterwards (code is generated per run)."""
        return preferences(self.b2, self.target)

    def _build(self, layout: Layout, consts: TraceConstants, chip: ChipNumerics | None) -> None:
        """The groups, synapses, learning machinery and monitors of ``layout``; compiled (standalone) or stored."""
        b2, spec = self.b2, layout.spec
        rule = rule_code(layout.rule) if layout.rule is not None else None
        k = eq.Constants(consts, spec, chip, family_code(spec.neuron), rule, layout.extras)
        self.k, self.dt = k, spec.dt
        self.clock = b2.Clock(dt=spec.dt * b2.second, name="step")  # one brian2 step = one torch step
        B, T = layout.batch, layout.n_steps
        self.X = b2.TimedArray(np.zeros((T, B * spec.n_in)), dt=spec.dt * b2.second)
        self.Ystar = b2.TimedArray(np.zeros((T, B * spec.n_out)), dt=spec.dt * b2.second)
        self.M = b2.TimedArray(np.zeros((T, B * spec.n_out)), dt=spec.dt * b2.second)
        self.namespace = {"X": self.X, "Ystar": self.Ystar, "M": self.M, **functions()}
        objects = self._groups(k) + self._forward_synapses(k)
        if layout.targets:
            objects += self._learning(k)
        self._fixed_values(k)
        objects += self._monitors(k)
        self.net = b2.Network(*objects)
        if self.standalone:
            self._zero_for_run_args()
            self.net.run(T * spec.dt * b2.second, namespace=self.namespace)
            self.device.build()
        else:
            self.net.store("init")

    def _when(self, stage: str) -> dict:
        return {"when": "groups", "order": eq.ORDER[stage]}

    def _groups(self, k: eq.Constants) -> list:
        """Input channels, hidden neurons (the family's code and spike condition) and readouts, with their steps."""
        b2, layout, spec = self.b2, self.layout, self.layout.spec
        B, clock = layout.batch, self.clock
        self.inp = b2.NeuronGroup(B * spec.n_in, eq.input_variables(k), name="inp", clock=clock)
        self.hid = b2.NeuronGroup(B * spec.n_rec, eq.hidden_variables(k), threshold=k.family.threshold,
                                  reset=k.family.reset, name="hid", clock=clock)
        self.out = b2.NeuronGroup(B * spec.n_out, eq.readout_variables(layout.classification), name="out", clock=clock)
        self.inp.run_regularly(eq.input_code(k), name="inp_traces", **self._when("neuron"))
        self.hid.run_regularly(eq.hidden_code(k), name="hid_step", **self._when("neuron"))
        self.out.run_regularly(eq.readout_code(k), name="out_step", **self._when("readout"))
        return [self.inp, self.hid, self.out]

    def _synapses(self, k: eq.Constants, pre, post, name: str, summed: str, order: str, plastic: bool):
        """All-to-all synapses inside each batch copy, with a summed variable scheduled at ``order``."""
        s = self.b2.Synapses(pre, post, eq.synapse_variables(k, summed, plastic), name=name, clock=self.clock)
        i, j = _all_pairs(self.layout.batch, len(pre) // self.layout.batch, len(post) // self.layout.batch)
        s.connect(i=i, j=j)
        s.summed_updaters[summed.split("=")[0].strip()].order = eq.ORDER[order]
        return s

    def _forward_synapses(self, k: eq.Constants) -> list:
        r""":math:`I^\mathrm{in} = W^\mathrm{in}x`, :math:`I^\mathrm{rec} = W^\mathrm{rec}z^{t-1}`, :math:`I^\mathrm{out} = W^\mathrm{out}z`."""
        targets, inp, hid, out = self.layout.targets, self.inp, self.hid, self.out
        self.S_in = self._synapses(k, inp, hid, "S_in", "I_in_post = w*x_pre : 1 (summed)", "drive",
                                   Target.W_IN in targets)
        self.S_rec = self._synapses(k, hid, hid, "S_rec", "I_rec_post = w*z_pre : 1 (summed)", "drive",
                                    Target.W_REC in targets)
        self.S_out = self._synapses(k, hid, out, "S_out", "I_out_post = w*z_pre : 1 (summed)", "readout_drive",
                                    Target.W_OUT in targets)
        return [self.S_in, self.S_rec, self.S_out]

    def _learning(self, k: eq.Constants) -> list:
        """Output error, learning signal through ``S_fb``, and each target's eligibility and accumulators."""
        layout, when, hid, out = self.layout, self._when, self.hid, self.out
        objects = []
        if layout.classification:
            objects.append(self._synapses(k, out, out, "S_soft", "sumexp_post = exp(y_pre) : 1 (summed)", "softmax",
                                          False))
        out.run_regularly(eq.error_code(layout.classification, layout.batch), name="out_error", **when("error"))
        self.S_fb = self.b2.Synapses(out, hid, "Bf : 1\nL_post = Bf*delta_pre : 1 (summed)", name="S_fb",
                                     clock=self.clock)
        fb_pre, fb_post = _all_pairs(layout.batch, layout.spec.n_out, layout.spec.n_rec)
        self.S_fb.connect(i=fb_pre, j=fb_post)
        self.S_fb.summed_updaters["L_post"].order = eq.ORDER["learning"]
        objects.append(self.S_fb)
        pres = k.rule.pre
        for target, syn, pre in ((Target.W_IN, self.S_in, pres[0]), (Target.W_REC, self.S_rec, pres[1])):
            if target in layout.targets:
                syn.run_regularly(eq.eligibility_code(k, pre), name=f"{syn.name}_elig", **when("eligibility"))
        hidden = []
        if Target.BIAS in layout.targets:
            hidden.append(eq.eligibility_code(k, pres[2], post="", suffix="_b"))
        if Target.THRESHOLD in layout.targets:
            hidden.append(eq.eligibility_code(k, "-1", post="", suffix="_th"))
        if hidden:
            hid.run_regularly("\n".join(hidden), name="hid_elig", **when("eligibility"))
        if Target.W_OUT in layout.targets:
            self.S_out.run_regularly("acc = acc + delta_post*Zk_pre", name="S_out_elig", **when("eligibility"))
        if Target.B_OUT in layout.targets:
            out.run_regularly("acc_bo = acc_bo + delta*Pob", name="out_elig", **when("eligibility"))
        return objects

    def _fixed_values(self, k: eq.Constants) -> None:
        """Per-neuron values fixed for the run: the family's (ALIF's beta) and the rule's (RFLO's d_j)."""
        values = dict(k.family.constants(k.c))
        if k.rule is not None:
            values |= k.rule.constants(k.extras)
        for name, value in values.items():
            setattr(self.hid, name, np.tile(value, self.layout.batch))

    def _monitors(self, k: eq.Constants) -> list:
        """Spikes (events, or rate units' outputs as a state), the readout, and what ``layout.record`` asks for."""
        b2, clock, spec = self.b2, self.clock, self.layout.spec
        self.spikes = b2.SpikeMonitor(self.hid, name="spikes") if k.family.spikes_as_events else \
            b2.StateMonitor(self.hid, "z", record=True, when="end", clock=clock, name="rates")
        self.y_mon = b2.StateMonitor(self.out, "y", record=True, when="end", clock=clock, name="y_mon")
        self.monitors = {}
        if self.layout.record:
            first = lambda n: np.arange(n)
            mon = lambda group, var, record, name: b2.StateMonitor(group, var, record=record, when="end", clock=clock,
                                                                   name=name)
            if self.layout.targets:
                self.monitors = {"pre_trace_in": mon(self.inp, "P", first(spec.n_in), "m_pin"),
                                 "hid": mon(self.hid, ["P_rec", "psi", "L", "dj"], first(spec.n_rec), "m_hid"),
                                 "output_error": mon(self.out, "delta", first(spec.n_out), "m_delta")}
            else:
                self.monitors = {"v": mon(self.hid, "v", True, "m_v")}
        return [self.spikes, self.y_mon, *self.monitors.values()]

    # --------------------------------------------------------------------------------- parameters
    def _synapse_values(self, params: Parameters, feedback: torch.Tensor | None) -> dict:
        B = self.layout.batch
        tile = lambda w: np.tile(w.detach().to(torch.float64).numpy().ravel(), B)
        values = {self.S_in.w: tile(params.w_in), self.S_rec.w: tile(params.w_rec), self.S_out.w: tile(params.w_out),
                  self.hid.bias: tile(params.bias), self.hid.theta: tile(params.threshold),
                  self.out.b_out: tile(params.b_out)}
        for name, of in self._from_weights().items():  # the rule's per-neuron values of the weights (RFLO's W_jj)
            values[getattr(self.hid, name)] = tile(of(params))
        if feedback is not None and self.layout.targets:
            values[self.S_fb.Bf] = tile(feedback)  # B (n_rec, n_out); S_fb is ordered (copy, hid j, readout k)
        return values

    def _from_weights(self) -> dict:
        return self.k.rule.from_weights(self.k.extras) if self.k.rule is not None else {}

    def _zero_for_run_args(self) -> None:
        """Standalone: give every run_args variable an initial assignment in the generated main."""
        for view in (self.S_in.w, self.S_rec.w, self.S_out.w, self.hid.bias, self.hid.theta, self.out.b_out):
            view[:] = 0.0
        for name in self._from_weights():
            getattr(self.hid, name)[:] = 0.0
        if self.layout.targets:
            self.S_fb.Bf[:] = 0.0

    def set_parameters(self, params: Parameters, feedback: torch.Tensor | None) -> None:
        """Runtime targets: write the (shared) weights into every copy."""
        for view, value in self._synapse_values(params, feedback).items():
            view[:] = value

    # --------------------------------------------------------------------------------- trials
    def trial_arrays(self, inputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> dict:
        """The TimedArray values of a batch: (T, B·n) for inputs, targets (one-hot) and the mask."""
        T, B = inputs.shape[:2]
        n_out = self.layout.spec.n_out
        x = inputs.detach().to(torch.float64).reshape(T, -1).numpy()
        if not self.layout.targets:  # forward simulation: the targets and mask appear in no generated code
            return {self.X: np.ascontiguousarray(x)}
        if self.layout.classification:
            ystar = torch.nn.functional.one_hot(targets, n_out).to(torch.float64).reshape(T, -1).numpy()
        else:
            ystar = targets.detach().to(torch.float64).reshape(T, -1).numpy()
        m = mask.detach().to(torch.float64).unsqueeze(-1).expand(T, B, n_out).reshape(T, -1).numpy()
        return {self.X: np.ascontiguousarray(x), self.Ystar: np.ascontiguousarray(ystar), self.M: np.ascontiguousarray(m)}

    def run_standalone(self, params: Parameters, feedback: torch.Tensor | None, arrays: dict) -> None:
        """One run of the compiled binary with this sequence's weights and trials."""
        with self.prefs():
            self.b2.device.run(directory=str(self.directory), with_output=False,
                               run_args={**self._synapse_values(params, feedback), **arrays})

    def start(self, params: Parameters, feedback: torch.Tensor | None, arrays: dict) -> None:
        """Runtime targets: fresh state at t = 0, this sequence's weights and trials."""
        with self.prefs():
            self.net.restore("init")
        for array, values in arrays.items():
            array.values[:] = values
        self.set_parameters(params, feedback)

    def run(self, steps: int) -> None:
        """Advance ``steps`` time steps (runtime targets)."""
        with self.prefs():
            self.net.run(steps * self.dt * self.b2.second, namespace=self.namespace)

    # --------------------------------------------------------------------------------- results
    def raster(self, n_steps: int) -> np.ndarray:
        """Spikes (T, B, n_rec) as 0/1 floats (rates for rate units)."""
        spec, B = self.layout.spec, self.layout.batch
        if not self.k.family.spikes_as_events:
            return np.asarray(self.spikes.z).T[:n_steps].reshape(-1, B, spec.n_rec)
        z = np.zeros((n_steps, B * spec.n_rec))
        steps = np.rint(np.asarray(self.spikes.t_) / self.dt).astype(int)
        z[steps, np.asarray(self.spikes.i)] = 1.0
        return z.reshape(n_steps, B, spec.n_rec)

    def outputs(self) -> np.ndarray:
        """Readout (T, B, n_out)."""
        y = np.asarray(self.y_mon.y)  # (B·n_out, T)
        return y.T.reshape(y.shape[1], self.layout.batch, self.layout.spec.n_out)

    def accumulators(self) -> dict[Target, tuple[np.ndarray, np.ndarray | None, np.ndarray | None]]:
        """Per target: summed ``L ebar`` (n_post, n_pre), summed ``e`` and the filtered eligibility (B, n_post, n_pre)."""
        spec, B = self.layout.spec, self.layout.batch
        out: dict = {}
        for target, syn, n_pre in ((Target.W_IN, self.S_in, spec.n_in), (Target.W_REC, self.S_rec, spec.n_rec)):
            if target in self.layout.targets:
                shape = (B, spec.n_rec, n_pre)
                out[target] = tuple(np.asarray(getattr(syn, v)).reshape(shape) for v in ("acc", "acce", "ebar"))
        for target, sfx in ((Target.BIAS, "_b"), (Target.THRESHOLD, "_th")):
            if target in self.layout.targets:
                shape = (B, spec.n_rec, 1)
                out[target] = tuple(np.asarray(getattr(self.hid, v + sfx)).reshape(shape)
                                    for v in ("acc", "acce", "ebar"))
        if Target.W_OUT in self.layout.targets:
            out[Target.W_OUT] = (np.asarray(self.S_out.acc).reshape(B, spec.n_out, spec.n_rec), None, None)
        if Target.B_OUT in self.layout.targets:
            out[Target.B_OUT] = (np.asarray(self.out.acc_bo).reshape(B, spec.n_out, 1), None, None)
        return out

    def clear_accumulators(self) -> None:
        for syn in (self.S_in, self.S_rec):
            if "acc" in syn.variables:
                syn.acc = 0.0
                syn.acce = 0.0
        if "acc" in self.S_out.variables:
            self.S_out.acc = 0.0
        for name in ("acc_b", "acce_b", "acc_th", "acce_th"):
            setattr(self.hid, name, 0.0)
        self.out.acc_bo = 0.0

    def rule_state(self) -> dict[str, np.ndarray]:
        """Time-major named rule state of batch copy 0 (the torch backend's ``rule_state``)."""
        m = self.monitors
        if "hid" not in m:
            return {}
        state = {"pre_trace_in": np.asarray(m["pre_trace_in"].P).T, "pre_trace_rec": np.asarray(m["hid"].P_rec).T,
                 "post_term": np.asarray(m["hid"].psi).T, "learning_signal": np.asarray(m["hid"].L).T,
                 "output_error": np.asarray(m["output_error"].delta).T, "trace_decay": np.asarray(m["hid"].dj).T}
        return {key: state[key] for key in self.k.rule.observed}  # as the torch backend's rule.observe

    def membrane(self) -> np.ndarray:
        v = np.asarray(self.monitors["v"].v)  # (B·n_rec, T)
        return v.T.reshape(v.shape[1], self.layout.batch, self.layout.spec.n_rec)
