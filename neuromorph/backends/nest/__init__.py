"""The NEST backend: e-prop networks lowered to NEST 3.10's ``eprop_*_bsshslm_2020`` models (docs/nest.md).

NEST is imported only when a batch is simulated, so the setup checks
(:mod:`neuromorph.backends.nest.support`) run without it.
"""

from neuromorph.backends.nest.backend import NestBackend
from neuromorph.backends.nest.support import UnsupportedFeatureError, check_supported

__all__ = ["NestBackend", "UnsupportedFeatureError", "check_supported"]
