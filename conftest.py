"""Session fixtures shared by every test folder.

The topic prefix is set before any project module is imported: the topic registry reads it once,
and this run's services (in-process or subprocess) must all use the same one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any

import pytest

os.environ.setdefault("KAFKA_TOPIC_PREFIX", f"test-{uuid.uuid4().hex[:8]}.")
os.environ["ENVIRONMENT"] = "test"

from tests import harness


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "infra" in names or any(name in names for name in ("services", "inproc", "client", "infra_env")):
            item.add_marker(pytest.mark.infra)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test against the running services shows what they warned about meanwhile (CI
    keeps only the test output, not the service logs)."""
    report: pytest.TestReport = yield
    if report.failed and call.when in ("setup", "call") and item.get_closest_marker("infra"):
        excerpt = harness.service_log_excerpt(call.start - 2.0, call.stop + 1.0)
        if excerpt:
            report.sections.append(("service warnings during the test", excerpt))
    return report


@pytest.fixture(scope="session")
def infra_env() -> Iterator[dict[str, str]]:
    """The real infrastructure, migrated from scratch, with this run's topics."""
    from tj_common import migrations
    from tj_common.settings import ServiceSettings
    from tj_common.storage import ensure_bucket
    from tj_common.topics import delete_topics, ensure_topics, topic_names

    with contextlib.ExitStack() as stack:
        if harness.infra_env_given():
            env: dict[str, str] = {}
        elif harness.docker_engine_available():
            env = stack.enter_context(harness.testcontainers_infra())
        else:
            harness.start_native_infra()
            env = {}
        os.environ.update(env)
        settings = ServiceSettings()
        asyncio.run(ensure_topics(settings.kafka_bootstrap_servers, 6, 24, settings.topic_replication_factor))
        ensure_bucket(settings)
        # Down to nothing and up again: every migration's downgrade runs on every test run.
        for service in migrations.SERVICES:
            migrations.upgrade(service, "head")
            migrations.downgrade(service, "base")
            migrations.upgrade(service, "head")
        yield env
        asyncio.run(delete_topics(settings.kafka_bootstrap_servers, list(topic_names(6))))


@pytest.fixture(scope="session")
def razorpay_standin() -> Iterator[harness.RazorpayStandIn]:
    """The local Razorpay stand-in that billing's SDK talks to (deploy/razorpay/standin.py)."""
    standin = harness.RazorpayStandIn(harness.free_port())
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture(scope="session")
def ports() -> dict[str, int]:
    return {name: harness.free_port() for name in harness.SERVICES}


@pytest.fixture(scope="module")
def services(
    infra_env: dict[str, str], ports: dict[str, int], razorpay_standin: harness.RazorpayStandIn
) -> Iterator[dict[str, harness.ServiceProcess]]:
    """All four services as separate processes, healthy."""
    env = {**harness.service_env(infra_env, ports), "RAZORPAY_BASE_URL": razorpay_standin.url}
    procs = {name: harness.ServiceProcess(name, ports[name], env) for name in harness.SERVICES}
    for proc in procs.values():
        proc.start()
    try:
        for proc in procs.values():
            proc.wait_healthy()
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()


@pytest.fixture
async def client(services: dict[str, harness.ServiceProcess]) -> AsyncIterator[Any]:
    import httpx

    async with httpx.AsyncClient(base_url=services["gateway"].url, timeout=30.0) as http:
        yield http


@pytest.fixture
async def db(infra_env: dict[str, str]) -> AsyncIterator[Any]:
    """Sessions on the test database as the trades service's role (its schema: trades.*)."""
    from tj_common.db import make_engine, make_sessionmaker
    from tj_trades.settings import Settings

    engine = make_engine(Settings(), pool_size=2)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()
