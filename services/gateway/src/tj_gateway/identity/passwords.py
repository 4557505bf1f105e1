"""argon2id password hashing, run off the event loop (it is deliberately slow).

The cost comes from the settings (``ARGON2_TIME_COST``, ``ARGON2_MEMORY_KIB``,
``ARGON2_PARALLELISM``), chosen for about 100 ms per hash on the reference machine (2 cores):
measured there, time cost 2 took 118 ms with 64 MiB and 79 ms with 46 MiB, so 2 and 56 MiB
(``bench/read_cache.py`` records the median hash and the login p95 of each run; with the machine
shared and loaded they read higher). A stored hash made with other parameters is re-hashed at the
next successful login.
"""

from __future__ import annotations

import asyncio
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tj_common.settings import ServiceSettings

_hasher = PasswordHasher(time_cost=2, memory_cost=56 * 1024, parallelism=1)
# Verified against when the email is unknown, so timing does not reveal which emails exist.
_dummy_hash = _hasher.hash("not-a-real-password-0")


def configure(settings: ServiceSettings) -> None:
    """Uses the settings' argon2id cost from now on (the gateway calls this at start)."""
    global _hasher, _dummy_hash
    hasher = PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )
    if (hasher.time_cost, hasher.memory_cost, hasher.parallelism) != (
        _hasher.time_cost,
        _hasher.memory_cost,
        _hasher.parallelism,
    ):
        _hasher, _dummy_hash = hasher, hasher.hash("not-a-real-password-0")


def hash_seconds(samples: int = 5) -> float:
    """Median seconds of one hash with the current parameters (for the benchmark)."""
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        _hasher.hash("correct horse battery 42")
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    hasher, dummy = _hasher, _dummy_hash

    def check() -> bool:
        try:
            return hasher.verify(stored_hash or dummy, password) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
