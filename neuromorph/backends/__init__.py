"""Backends lower (network, rule) and run it. The torch backend is the default."""
