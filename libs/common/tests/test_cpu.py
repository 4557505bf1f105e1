"""tj_common.cpu: the collector is paused while the work runs, and only then."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator

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
