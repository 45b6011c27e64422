r"""Integer helpers for the generated code, with the same semantics in every code-generation target.

brian2's own ``floor`` returns ``int32`` in the numpy target (it overflows above :math:`2^{31}`),
and it has no round-half-to-even. A chip profile's grids (:mod:`neuromorph.hardware.quantize`)
need both exactly as torch computes them, so these functions carry one implementation per
target: ``numpy.rint``/``trunc``/``floor`` and C's ``rint``/``trunc``/``floor`` (``rint`` rounds
ties to even in the default rounding mode, like ``torch.round``).
"""

from __future__ import annotations

import numpy as np

_C = {"nm_round": "rint", "nm_trunc": "trunc", "nm_floor": "floor"}
_NUMPY = {"nm_round": np.rint, "nm_trunc": np.trunc, "nm_floor": np.floor}


def functions() -> dict:
    """``{name: brian2.Function}`` for the namespace of a run."""
    from brian2 import Function
    from brian2.codegen.generators import CPPCodeGenerator, CythonCodeGenerator, NumpyCodeGenerator

    out = {}
    for name, c_name in _C.items():
        f = Function(_NUMPY[name], arg_units=[1], return_unit=1, arg_types=["float"], return_type="float")
        f.implementations.add_implementation(NumpyCodeGenerator, code=_NUMPY[name], name=name)
        f.implementations.add_implementation(
            CPPCodeGenerator, name=name,
            code={"support_code": f"static inline double {name}(double x) {{ return {c_name}(x); }}"})
        f.implementations.add_implementation(
            CythonCodeGenerator, name=name,
            code=f"from libc.math cimport {c_name} as _c_{name}\ncdef double {name}(double x):\n"
                 f"    return _c_{name}(x)\n")
        out[name] = f
    return out
