"""tj_common.cpu: the collector is paused while the work runs, and only then."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tj_common import cpu


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_compute_runs_in_a_thread_with_the_collector_paused() -> None:
    seen: dict[str, object] = {}

    def work(a: int, *, b: int) -> int:
        seen["enabled"] = gc.isenabled()
        seen["thread"] = threading.current_thread() is threading.main_thread()
        return a + b

    assert asyncio.run(cpu.compute(work, 2, b=3)) == 5
    assert seen == {"enabled": False, "thread": False}
    assert gc.isenabled()


def test_an_error_in_the_work_turns_the_collector_back_on() -> None:
    def work() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        asyncio.run(cpu.compute(work))
    assert gc.isenabled()


def test_overlapping_pauses_keep_it_off_until_the_last_one_ends() -> None:
    first_in, second_in, first_may_end = threading.Event(), threading.Event(), threading.Event()
    states: list[bool] = []

    def first() -> None:
        with cpu.collector_paused():
            first_in.set()
            second_in.wait(5)
            first_may_end.wait(5)
        states.append(gc.isenabled())  # the second one still runs: still off

    def second() -> None:
        first_in.wait(5)
        with cpu.collector_paused():
            second_in.set()
            first_may_end.set()
            thread.join(5)
            states.append(gc.isenabled())
        states.append(gc.isenabled())  # the last one ended: on again

    thread = threading.Thread(target=first)
    other = threading.Thread(target=second)
    thread.start()
    other.start()
    other.join(10)
    assert states == [False, False, True]


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with cpu.collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


# --- Forked ------------------------------------------------------------------------------------


class _Unpicklable(Exception):
    def __reduce__(self) -> Any:
        raise TypeError("not this one")


def _forked(fn: Callable[[], Any]) -> Any:
    async def main() -> Any:
        child = cpu.Forked(fn)
        try:
            return await child.result()
        finally:
            child.cancel()

    return asyncio.run(main())


@pytest.mark.skipif(not cpu.FORK_AVAILABLE, reason="fork: Linux only")
def test_forked_computes_in_a_child_with_the_callers_memory_as_it_is() -> None:
    parent = os.getpid()
    lock = threading.Lock()  # no pickling on the way in: a lock (or a lambda) travels as is
    shared = {"rows": list(range(100_000)), "lock": lock, "f": lambda x: x * 2}

    def work() -> tuple[int, int, bool]:
        return os.getpid(), sum(shared["f"](v) for v in shared["rows"]), gc.isenabled()

    pid, total, collector = _forked(work)
    assert pid != parent
    assert total == 2 * sum(range(100_000))
    assert collector is False  # the child runs with the collector off
    with contextlib.suppress(ChildProcessError):  # and it is gone: reaped by the reader
        assert os.waitpid(pid, os.WNOHANG) == (0, 0)
        pytest.fail(f"child {pid} was not reaped")


@pytest.mark.skipif(not cpu.FORK_AVAILABLE, reason="fork: Linux only")
def test_forked_raises_the_childs_exception_here() -> None:
    def work() -> None:
        raise ValueError(f"bad window in {os.getpid()}")

    with pytest.raises(ValueError, match="bad window in") as raised:
        _forked(work)
    assert "raised in forked child" in "".join(raised.value.__notes__)  # with its traceback there
    assert 'raise ValueError(f"bad window in' in "".join(raised.value.__notes__)

    def unpicklable() -> None:
        raise _Unpicklable("cannot travel")

    with pytest.raises(cpu.ChildFailed, match="_Unpicklable: cannot travel"):  # its traceback, as text
        _forked(unpicklable)


@pytest.mark.skipif(not cpu.FORK_AVAILABLE, reason="fork: Linux only")
def test_a_lost_child_is_computed_again_here(caplog: pytest.LogCaptureFixture) -> None:
    parent = os.getpid()

    def work() -> int:
        if os.getpid() != parent:
            time.sleep(60)  # the child: killed before it answers
        return os.getpid()

    async def main() -> int:
        child = cpu.Forked(work)
        child.cancel()  # as the OOM killer would
        return await child.result()

    assert asyncio.run(main()) == parent  # computed in this process instead
    assert "computing child lost" in caplog.text


@pytest.mark.skipif(not cpu.FORK_AVAILABLE, reason="fork: Linux only")
def test_a_cancelled_child_is_killed_and_reaped() -> None:
    async def main() -> int:
        child = cpu.Forked(time.sleep, 60)
        child.cancel()
        started = time.monotonic()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(child._reading), 10)
        assert time.monotonic() - started < 5
        return child.pid

    pid = asyncio.run(main())
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


@pytest.mark.skipif(not cpu.FORK_AVAILABLE, reason="fork: Linux only")
def test_a_large_result_comes_back_whole_while_this_process_computes() -> None:
    # Larger than any pipe's buffer, and this process's threads busy meanwhile: the child never
    # waits on a reader (it writes to a file), and the result comes back byte for byte.
    big = os.urandom(1 << 20).hex() * 12  # 24 MiB of text

    async def main() -> str:
        child = cpu.Forked(lambda: big[::-1])
        busy = asyncio.to_thread(lambda: sum(i * i for i in range(3_000_000)))
        try:
            _, value = await asyncio.gather(busy, child.result())
            return value
        finally:
            child.cancel()

    assert asyncio.run(main()) == big[::-1]


@pytest.mark.skipif(not cpu.FORK_AVAILABLE, reason="fork: Linux only")
def test_a_child_that_exits_without_its_result_is_computed_here(caplog: pytest.LogCaptureFixture) -> None:
    parent = os.getpid()

    def work() -> int:
        if os.getpid() != parent:
            os._exit(0)  # an exit status of 0, and nothing written
        return 7

    assert _forked(work) == 7
    assert "computing child lost" in caplog.text
