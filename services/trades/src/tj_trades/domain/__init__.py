"""Pure trade math of the trades service: no I/O, deterministic, Decimal throughout."""
