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
import struct
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
# pickled; only its result comes back, pickled into an in-memory file (memfd) the two share.
# Meanwhile this process goes on with other work on the other core.
#
# Not through a pipe: its 64 KiB buffer made the child wait on this process's reader, a thread
# that had to take the interpreter lock back after every read (up to a switch interval, 5 ms,
# each time while other threads compute): a 9 MB result took 0.15-0.4 s to cross. The child
# writes the file without ever waiting, and this process reads it whole once the child has exited.

FORK_AVAILABLE = sys.platform.startswith("linux") and hasattr(os, "fork") and hasattr(os, "memfd_create")
_PR_SET_PDEATHSIG = 1


def set_parent_death_signal(signum: int) -> None:
    """Have the kernel send this process ``signum`` when its parent ends, however it ends (Linux;
    nothing elsewhere)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signum)


_LENGTH = struct.Struct("<Q")  # in front of a child's result in its file


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
        result_file = os.memfd_create("tj-forked-result", os.MFD_CLOEXEC)
        try:
            pid = os.fork()
        except BaseException:
            os.close(result_file)
            raise
        if pid == 0:  # pragma: no cover - the child (its coverage is not collected)
            _run_child(result_file, self._call)
        self.pid = pid
        self._reaping = threading.Lock()
        self._reaped = False
        # Waited for in a thread: the event loop goes on, and the child is reaped as it ends.
        self._reading = asyncio.get_running_loop().run_in_executor(None, self._collect, result_file)

    def _collect(self, result_file: int) -> bytes:
        """The child's pickled outcome, once it has exited; empty if it did not end well (killed,
        or it could not write its result)."""
        try:
            # Waited for without reaping it, then reaped under the lock ``cancel`` kills under: a
            # pid reaped is free for another process, which must not get the kill.
            with contextlib.suppress(ChildProcessError):  # reaped elsewhere: the file tells
                os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
            with self._reaping:
                self._reaped = True
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(self.pid, 0)
            # The child writes the result's length in front of it last: zero (or a file of another
            # size) is a child that did not finish writing.
            header = os.pread(result_file, _LENGTH.size, 0)
            if len(header) < _LENGTH.size:
                return b""
            (size,) = _LENGTH.unpack(header)
            if size == 0 or os.fstat(result_file).st_size != _LENGTH.size + size:
                return b""
            chunks = []
            offset = _LENGTH.size
            while size > 0 and (chunk := os.pread(result_file, size, offset)):
                chunks.append(chunk)
                size -= len(chunk)
                offset += len(chunk)
            return b"".join(chunks)
        finally:
            os.close(result_file)

    async def result(self) -> R:
        data = await asyncio.shield(self._reading)
        if not data:
            log.warning("computing child lost; computing in this process", extra={"fields": {"pid": self.pid}})
            return await compute(self._call)
        with collector_paused():
            outcome, value = pickle.loads(data)  # noqa: S301 - our own child's, in our own file
        if outcome == "error":
            raise value
        return value  # type: ignore[no-any-return]

    def cancel(self) -> None:
        """Kill the child (if still there); its reader reaps it."""
        with self._reaping:
            if not self._reaped:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)


def _run_child(result_file: int, call: Callable[[], object]) -> None:  # pragma: no cover - in the child
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
        os.pwrite(result_file, _LENGTH.pack(0), 0)
        view = memoryview(data)
        offset = _LENGTH.size
        while view:
            written = os.pwrite(result_file, view, offset)
            view, offset = view[written:], offset + written
        os.pwrite(result_file, _LENGTH.pack(len(data)), 0)
    except BaseException:
        status = 1
    finally:
        os._exit(status)
