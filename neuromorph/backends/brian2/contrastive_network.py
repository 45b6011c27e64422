r"""A contrastive rate network (EP, CHL) and its plasticity as brian2 objects: one build per card.

A minibatch of *B* trials runs as *B* disconnected copies of the network (``hid`` unit
:math:`b\,n_h + j`, ``out`` unit :math:`b\,n_\mathrm{out} + k`); the parameters live once, in the
weight groups ``G1`` (unit :math:`j\,n_\mathrm{in} + i`), ``G2`` (unit :math:`k\,n_h + j`), ``Gb1``,
``Gb2``, and learn inside brian2 (:mod:`.contrastive_equations`). The whole training of one
(scheme, seed), every epoch and minibatch *and the evaluations*, is **one run**: the data sets are
stored once (``DATA``, ``TGT``: one row per training, then per test sample), ``SAMPLE`` says which
sample each copy shows in each block of steps, and the per-step arrays ``PHI`` (phase), ``LR``
(the presentation's η), ``FAC`` (the rule's factor of the Hebbian term), ``BL`` (baseline update), ``STORE`` (classical g-), ``RST`` (start from
rest), ``SAVE``/``LOAD`` (keep the training state aside during an evaluation), ``AVG`` (the
evaluation's read-out steps), ``EVAL`` (last step of an evaluation chunk) and ``REC`` (raster steps)
are ``TimedArray`` s.

The run is the timeline of a :class:`~neuromorph.backends.base.Curriculum`: its presentations
(burn-in + phases each) and, where it says, evaluations. An evaluation is a free relaxation
(``eval_steps`` from rest, no plasticity: ``FAC`` = ``BL`` = ``STORE`` = 0) of the curriculum's
evaluation samples, *B* at a time in the same copies; an ``EventMonitor`` records the output rates at
the last step of each chunk (summed over the curriculum's last ``eval_average`` steps).

Targets: ``numpy`` and ``cython`` (the ``Network`` is built once, ``store`` d and ``restore`` d per
run; cython compiles once) and ``cpp_standalone`` (built and compiled once; each (scheme, seed) is a
run of the binary with the initial weights and all the arrays as ``run_args``). The shapes (and so
the run length) are fixed per build: every scheme and seed of one card shares them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from neuromorph.backends.brian2 import contrastive_equations as eq
from neuromorph.backends.brian2.contrastive_equations import Layered
from neuromorph.backends.brian2.network import Device, preferences
from neuromorph.network import LAYER_NAMES as PARAMS

#: the per-step TimedArrays (module docstring)
STEP_ARRAYS = ("PHI", "LR", "FAC", "BL", "STORE", "RST", "SAVE", "LOAD", "AVG", "EVAL", "REC")


@dataclass(frozen=True)
class Shape:
    """What one build fixes: the network, the batch copies, the data set size and the run length."""

    net: Layered
    batch: int
    n_samples: int
    presentation: int  #: steps per presentation (burn-in + phases)
    n_presentations: int
    n_evals: int  #: evaluations in the run
    eval_steps: int
    n_eval: int  #: samples per evaluation
    eval_average: int = 1  #: read-out steps of an evaluation
    watch: tuple[int, int] = (0, 4)  #: the raster records W2[row, :k]

    @property
    def eval_chunks(self) -> int:
        return -(-self.n_eval // self.batch)

    @property
    def n_steps(self) -> int:
        return self.presentation * self.n_presentations + self.n_evals * self.eval_chunks * self.eval_steps

    @property
    def block(self) -> int:
        """Steps per row of ``SAMPLE``: both segment lengths are multiples of it."""
        return math.gcd(self.presentation, self.eval_steps)


class ContrastiveNetwork:
    """The brian2 objects of one :class:`Shape` on one code-generation target."""

    def __init__(self, shape: Shape, target: str, directory: str | os.PathLike[str] | None = None,
                 baseline_steps: float = 0.0) -> None:
        import brian2 as b2

        self.b2, self.shape, self.target = b2, shape, target
        self.standalone = target == "cpp_standalone"
        self.device = Device(b2, target, directory, "neuromorph-cl-")
        self.directory = self.device.directory
        with preferences(b2, target):
            self._build(shape, baseline_steps)

    def _build(self, shape: Shape, baseline_steps: float) -> None:
        b2 = self.b2
        net, B = shape.net, shape.batch
        n_in, n_h, n_out = net.n_in, net.n_hidden, net.n_out
        second = b2.second
        clock = b2.Clock(dt=1 * second, name="cl_step")  # one brian2 step = one torch step
        zeros = np.zeros
        self.arrays = {name: b2.TimedArray(zeros(shape.n_steps), dt=1 * second, name=name) for name in STEP_ARRAYS}
        self.arrays["DATA"] = b2.TimedArray(zeros((shape.n_samples, n_in)), dt=1 * second, name="DATA")
        self.arrays["TGT"] = b2.TimedArray(zeros((shape.n_samples, n_out)), dt=1 * second, name="TGT")
        self.arrays["SAMPLE"] = b2.TimedArray(zeros((shape.n_steps // shape.block, B)), dt=shape.block * second,
                                              name="SAMPLE")
        self.namespace = dict(self.arrays)
        at = lambda stage: {"when": "groups", "order": eq.ORDER[stage]}

        inp = b2.NeuronGroup(B * n_in, eq.input_variables(), name="inp", clock=clock)
        inp.copy, inp.col = np.repeat(np.arange(B), n_in), np.tile(np.arange(n_in), B)
        inp.run_regularly(eq.INPUT_CODE, name="inp_lookup", **at("rates"))
        hid = b2.NeuronGroup(B * n_h, eq.hidden_variables(net), name="hid", clock=clock)
        out = b2.NeuronGroup(B * n_out, eq.output_variables(net), name="out", clock=clock,
                             events={"rec": "REC(t) > 0.5 and copy == 0", "eval": "EVAL(t) > 0.5"})
        hid.copy = np.repeat(np.arange(B), n_h)
        out.copy, out.unit = np.repeat(np.arange(B), n_out), np.tile(np.arange(n_out), B)
        self.weights = {}
        for name, n in (("w1", n_h * n_in), ("w2", n_out * n_h), ("b1", n_h), ("b2", n_out)):
            # torch's divergence check, at the end of every epoch (the first step of the evaluation after it)
            events = {"nonfinite": "SAVE(t) > 0.5 and not (abs(w) < inf)"}
            if name == "w2":
                row, k = shape.watch
                events["rec"] = f"REC(t) > 0.5 and i >= {row * n_h} and i < {row * n_h + min(k, n_h)}"
            g = b2.NeuronGroup(n, eq.weight_variables(), name=f"G_{name}", clock=clock, events=events)
            g.run_regularly(eq.update_code(B, baseline_steps), name=f"G_{name}_update", **at("update"))
            self.weights[name] = g
        hid.b1 = b2.linked_var(self.weights["b1"], "w", index=np.tile(np.arange(n_h), B))
        out.b2 = b2.linked_var(self.weights["b2"], "w", index=np.tile(np.arange(n_out), B))
        hid.run_regularly(eq.rates_code(net), name="hid_rates", **at("rates"))
        out.run_regularly(eq.rates_code(net), name="out_rates", **at("rates"))
        hid.run_regularly(eq.hidden_code(net), name="hid_step", **at("state"))
        out.run_regularly(eq.output_code(net), name="out_step", **at("state"))
        synapses = self._synapses(shape, clock, inp, hid, out)
        self._monitors(out)
        self.hid, self.out = hid, out
        self.net = b2.Network(inp, hid, out, *self.weights.values(), *synapses, self.evaluations,
                              *self.nonfinite, self.rec_out, self.rec_w2)
        if self.standalone:  # every run_args variable needs an assignment in the generated main
            for g in self.weights.values():
                g.w[:] = 0.0
            self.net.run(shape.n_steps * second, namespace=self.namespace)
            self.device.build()
        else:
            self.net.store("init")

    def _synapses(self, shape: Shape, clock, inp, hid, out) -> list:
        """The weight-carrying synapses S1 (W1 x), S2h and S2y (W2 both ways) and the bias synapses, in every copy."""
        b2, B = self.b2, shape.batch
        n_in, n_h, n_out = shape.net.n_in, shape.net.n_hidden, shape.net.n_out
        b, j, i = (a.ravel() for a in np.meshgrid(np.arange(B), np.arange(n_h), np.arange(n_in), indexing="ij"))
        S1 = b2.Synapses(self.weights["w1"], hid, eq.S1, name="S1", clock=clock)
        S1.connect(i=j * n_in + i, j=b * n_h + j)
        S1.xidx = b * n_in + i
        S1.x = b2.linked_var(inp, "x", index="xidx")
        b, k, j = (a.ravel() for a in np.meshgrid(np.arange(B), np.arange(n_out), np.arange(n_h), indexing="ij"))
        S2h = b2.Synapses(self.weights["w2"], hid, eq.S2H, name="S2h", clock=clock)
        S2h.connect(i=k * n_h + j, j=b * n_h + j)
        S2h.yi = b * n_out + k
        S2h.ry = b2.linked_var(out, "r", index="yi")
        S2y = b2.Synapses(self.weights["w2"], out, eq.S2Y, name="S2y", clock=clock)
        S2y.connect(i=k * n_h + j, j=b * n_out + k)
        S2y.hi = b * n_h + j
        S2y.rh = b2.linked_var(hid, "r", index="hi")
        Sb1 = b2.Synapses(hid, self.weights["b1"], eq.SB, name="Sb1", clock=clock)
        Sb1.connect(i=np.arange(B * n_h), j=np.tile(np.arange(n_h), B))
        Sb2 = b2.Synapses(out, self.weights["b2"], eq.SB, name="Sb2", clock=clock)
        Sb2.connect(i=np.arange(B * n_out), j=np.tile(np.arange(n_out), B))
        for syn, summed in ((S1, {"I1_post": "drive", "gs_pre": "hebbian"}),
                            (S2h, {"I2_post": "drive", "gs_pre": "hebbian"}), (S2y, {"Iy_post": "drive"}),
                            (Sb1, {"gs_post": "hebbian"}), (Sb2, {"gs_post": "hebbian"})):
            for var, stage in summed.items():
                syn.summed_updaters[var].order = eq.ORDER[stage]
        return [S1, S2h, S2y, Sb1, Sb2]

    def _monitors(self, out) -> None:
        """Evaluation events, the divergence check per weight group, and the recorded rates and W2 entries."""
        b2 = self.b2
        self.evaluations = b2.EventMonitor(out, "eval", variables=["ra"], name="evaluations")
        self.nonfinite = [b2.EventMonitor(g, "nonfinite", variables=[], name=f"nonfinite_{n}")
                          for n, g in self.weights.items()]
        self.rec_out = b2.EventMonitor(out, "rec", variables=["r"], name="rec_out")
        self.rec_w2 = b2.EventMonitor(self.weights["w2"], "rec", variables=["w"], name="rec_w2")

    # ------------------------------------------------------------------------------------- runs
    def run(self, params: dict[str, np.ndarray], arrays: dict[str, np.ndarray]) -> None:
        """One whole training from ``params`` (w1, w2, b1, b2) with the ``arrays`` of a schedule."""
        values = {self.arrays[name]: np.ascontiguousarray(v, dtype=np.float64) for name, v in arrays.items()}
        weights = {self.weights[n].w: np.ascontiguousarray(params[n], dtype=np.float64).ravel() for n in PARAMS}
        if self.standalone:
            self.b2.device.run(directory=str(self.directory), with_output=False, run_args={**weights, **values})
            return
        self.net.restore("init")
        for array, v in values.items():
            array.values[:] = v
        for view, v in weights.items():
            view[:] = v
        with preferences(self.b2, self.target):  # runtime targets generate their code here
            self.net.run(self.shape.n_steps * self.b2.second, namespace=self.namespace)

    def eval_rates(self) -> np.ndarray:
        """Output rates (mean over the read-out steps) of every evaluation: (evaluations, chunks · B, n_out)."""
        t, i = np.asarray(self.evaluations.t_), np.asarray(self.evaluations.i)
        r = np.asarray(self.evaluations.ra) / self.shape.eval_average
        order = np.lexsort((i, t))
        shape = self.shape
        return r[order].reshape(shape.n_evals, shape.eval_chunks * shape.batch, shape.net.n_out)

    def first_nonfinite_step(self) -> int | None:
        """The first step at which a weight was non-finite (checked at the start of each evaluation), or None."""
        steps = [int(np.rint(np.asarray(m.t_).min())) for m in self.nonfinite if len(m.t_)]
        return min(steps) if steps else None

    def final_weights(self) -> dict[str, np.ndarray]:
        net = self.shape.net
        shapes = {"w1": (net.n_hidden, net.n_in), "w2": (net.n_out, net.n_hidden), "b1": (net.n_hidden,),
                  "b2": (net.n_out,)}
        return {name: np.array(self.weights[name].w[:], dtype=np.float64).reshape(shapes[name]) for name in PARAMS}

    def raster(self) -> tuple[np.ndarray, np.ndarray]:
        """Output rates of copy 0 (steps, n_out) and the watched W2 entries (steps, k) at the ``REC`` steps."""
        def rows(mon, var):
            t, i, v = np.asarray(mon.t_), np.asarray(mon.i), np.asarray(getattr(mon, var))
            order = np.lexsort((i, t))
            steps = len(np.unique(t))
            return v[order].reshape(steps, -1) if steps else np.zeros((0, 0))
        return rows(self.rec_out, "r"), rows(self.rec_w2, "w")

    def close(self) -> None:
        """Reset brian2's global device after a standalone build (and remove a temporary project)."""
        self.device.close()
