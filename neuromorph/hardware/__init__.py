"""Hardware profiles: chip arithmetic and locality, applied to simulations (docs/hardware.md)."""
