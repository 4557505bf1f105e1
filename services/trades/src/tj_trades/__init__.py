"""Trading Journal trades service."""

from tj_trades import _native

_native.install()  # the compiled engines, when built and current (see tj_trades._native)
