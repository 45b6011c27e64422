"""Export of trained networks to chip toolchains: NIR graphs (recurrent LIF built by hand) and back,
quantised chip images, Loihi rule strings, and a spike-exact port to the brian2-loihi Loihi-1 emulator.

Layer rule (the README's layering): export imports dynamics, plasticity, hardware and nir, never a backend's
training code. See ``docs/export.md`` for the conventions a consumer must use.
"""

from neuromorph.export.brian2_loihi import to_brian2_loihi, write_brian2_loihi
from neuromorph.export.nir_graph import to_nir, write_nir
from neuromorph.export.nir_import import from_nir, read_nir

__all__ = ["from_nir", "read_nir", "to_brian2_loihi", "to_nir", "write_brian2_loihi", "write_nir"]
