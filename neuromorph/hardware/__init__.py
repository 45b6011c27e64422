"""Hardware profiles: chip arithmetic and locality, applied to simulations (HARDWARE.md)."""
