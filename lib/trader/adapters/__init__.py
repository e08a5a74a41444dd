"""Adapters: the only code that touches files, the network, AWS or the clock."""
