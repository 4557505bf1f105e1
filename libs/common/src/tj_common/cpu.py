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
import contextlib
import ctypes
import functools
import gc
import logging
import os
import pickle
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger(__name__)

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


# --- Work in a forked child -------------------------------------------------------------------
#
# A thread gives the event loop its turn but not a second core: the interpreter lock lets one
# thread compute at a time. A child forked for the call starts with this process's memory as it
# is, so its arguments (a large refresh's hundreds of thousands of rows) are neither copied nor
# pickled; only its result comes back, pickled through a pipe. Meanwhile this process goes on
# with other work on the other core.

FORK_AVAILABLE = sys.platform.startswith("linux") and hasattr(os, "fork")
_PR_SET_PDEATHSIG = 1


def set_parent_death_signal(signum: int) -> None:
    """Have the kernel send this process ``signum`` when its parent ends, however it ends (Linux;
    nothing elsewhere)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signum)


class ChildFailed(RuntimeError):
    """The computation raised in the child and its exception could not be sent back as it was."""


class Forked(Generic[R]):
    """``fn(*args)`` computing in a child forked at construction; ``await result()`` for its value
    (the exception it raised, re-raised here). ``cancel()`` kills it. A child lost without a
    result (killed: out of memory, say) is logged and the call made in this process instead, in a
    thread (:func:`compute`): the arguments must not have changed meanwhile.

    The child runs nothing but the call: its signal handlers are reset (an asyncio loop's wake-up
    file descriptor is this process's), it is killed if this process dies (Linux parent-death
    signal), the collector stays off (it exits as soon as the result is sent), and it ends with
    ``os._exit``: no atexit handler, no buffer flushed, no connection closed on the way out.
    ``fn`` must not use locks, connections or threads of this process: only its memory."""

    def __init__(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> None:
        self._call = functools.partial(fn, *args, **kwargs)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child (its coverage is not collected)
            os.close(read_end)
            _run_child(write_end, self._call)
        os.close(write_end)
        self.pid = pid
        # Read from the start, in a thread: a result larger than the pipe's buffer would
        # otherwise keep the child waiting (and alive) until the caller asks for it.
        self._reading = asyncio.get_running_loop().run_in_executor(None, self._collect, read_end)

    def _collect(self, read_end: int) -> bytes:
        chunks = []
        with os.fdopen(read_end, "rb") as pipe:
            while chunk := pipe.read(1 << 20):
                chunks.append(chunk)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        return b"".join(chunks)

    async def result(self) -> R:
        data = await asyncio.shield(self._reading)
        if not data:
            log.warning("computing child lost; computing in this process", extra={"fields": {"pid": self.pid}})
            return await compute(self._call)
        with collector_paused():
            outcome, value = pickle.loads(data)  # noqa: S301 - our own child's, through our own pipe
        if outcome == "error":
            raise value
        return value  # type: ignore[no-any-return]

    def cancel(self) -> None:
        """Kill the child (if still there); its reader ends with the pipe."""
        if not self._reading.done():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


def _run_child(write_end: int, call: Callable[[], object]) -> None:  # pragma: no cover - in the child
    status = 0
    try:
        gc.disable()
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        set_parent_death_signal(signal.SIGKILL)
        try:
            data = pickle.dumps(("ok", call()), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:
            with contextlib.suppress(Exception):  # where it was raised, for the caller's log
                exc.add_note(f"raised in forked child {os.getpid()}:\n" + "".join(traceback.format_exception(exc)))
            try:
                data = pickle.dumps(("error", exc), protocol=pickle.HIGHEST_PROTOCOL)
                pickle.loads(data)  # noqa: S301 - that it comes back as it went
            except Exception:
                failure = ChildFailed("".join(traceback.format_exception(exc)))
                data = pickle.dumps(("error", failure), protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(data)
        while view:
            view = view[os.write(write_end, view) :]
    except BaseException:
        status = 1
    finally:
        os._exit(status)
