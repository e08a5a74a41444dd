"""Pure decision stages: frozen inputs in, new values out; no I/O, no clock, no randomness."""
