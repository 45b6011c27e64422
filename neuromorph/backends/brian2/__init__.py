"""The brian2 backend: the same network and rule lowered to brian2 equations (numpy, cython, cpp_standalone).

brian2 is imported only when a network is built, so ``import neuromorph`` stays light.
"""

from neuromorph.backends.brian2.support import TARGETS, UnsupportedFeatureError, check_supported
from neuromorph.backends.brian2.train import Brian2Backend

__all__ = ["TARGETS", "Brian2Backend", "UnsupportedFeatureError", "check_supported"]
