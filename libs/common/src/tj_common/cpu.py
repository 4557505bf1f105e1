"""CPU-bound work off the event loop, with Python's cyclic garbage collector paused meanwhile.

A large computation (a projection refresh's charges and round trips) allocates hundreds of
thousands of containers that all stay alive until it returns. The cyclic collector cannot free
any of them, yet every few hundred allocations it walks the young ones and every so often all of
them: about a third of the projection's compute time on this machine
(``bench.trade_engine``-sized histories). Reference counting still frees everything at once; only
the search for reference cycles waits until the work ends, and what the work leaves in cycles
(rare: a caught exception's traceback) is collected by the next automatic collection after it.

The pause is process-wide (the collector has one switch) and counted, so overlapping calls from
several threads keep it off until the last one ends, and a collector that was already off (a test
that turned it off) stays off.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_lock = threading.Lock()
_pauses = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector off for the block (reference counting goes on)."""
    global _pauses, _was_enabled
    with _lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()


def _paused_call(call: Callable[[], R]) -> R:
    with collector_paused():
        return call()


async def compute(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``fn(*args)`` in a worker thread (the event loop keeps serving), the collector paused."""
    return await asyncio.to_thread(_paused_call, functools.partial(fn, *args, **kwargs))
