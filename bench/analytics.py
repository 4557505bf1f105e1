"""Benchmark of analytics on a large history: ``GET /internal/analytics/summary`` of the trades
service for one user with 100,000 closed trades, uncached and cached, and the rebuilds of that
user's projection: the daily rollups from the stored round trips, and the whole projection
(per-execution charges, round trips, daily rollups) from the executions.

    uv run python -m bench.analytics                      # 100,000 trades, about 2-4 minutes
    uv run python -m bench.analytics --trades 10000       # smoke run

Like bench/write_path.py it runs its own trades process on topics of its own and a database of its
own (created, migrated, dropped at the end). The history (two executions per trade: intraday round
trips over ten symbols, 80 trades a day from January 2022 on; charges estimated by the India engine
(every day is inside its rate table), or the
broker's with ``--fees broker``) is written straight into the database with COPY: ingest has its
own benchmark (bench/ingest.py). Then:

1. rebuilds, timed: ``projection.rebuild`` (everything from the executions: reported, in one pass
   and window by window, with this process's peak memory growth for each; both must give the
   same checksum) and then ``projection.rebuild_rollups`` (the daily rollup projection from the
   round trips: goal ≤ 5 s for 100,000 trades); it must give the same checksum again;
2. uncached summary: each request after a bump of the user's cache version (a Redis miss), so it
   is read from the stored projection: the summary snapshot the refresher keeps (goal p95 ≤ 100
   ms); and, as the worst case (the first read after a write, before the refresher), with the
   snapshot dropped before each request, so it is chained from the daily rollups;
3. cached summary: the same request repeated (goal p95 ≤ 5 ms).

JSON to bench/results/analytics-<stamp>.json (and analytics-latest.json).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import secrets
import signal
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.import_1m import peak_rss_mb
from bench.write_path import (
    RESULTS_DIR,
    BenchDatabase,
    _RawConnection,
    git_info,
    machine_info,
    ms,
    percentile,
    run_async,
    say,
    teardown_run,
    write_report,
)
from tests import harness

SYMBOLS = ("RELIANCE", "INFY", "TCS", "HDFCBANK", "ICICIBANK", "SBIN", "ITC", "LT", "AXISBANK", "KOTAKBANK")


class OwnDatabase(BenchDatabase):
    """BenchDatabase under a name of its own (``tj_tradesbench_<run>``) that leaves other runs'
    databases alone: benchmarks of other services may be running on the same machine, and a sweep
    of leftovers would drop one that is between creation and first use."""

    PREFIX = "tj_tradesbench_"
    SWEEP_LEFTOVERS = False


GOALS = {"summary_uncached_p95_ms": 100.0, "summary_cached_p95_ms": 5.0, "rebuild_rollups_s": 5.0}


def history(
    user_id: uuid.UUID, account_id: uuid.UUID, trades: int, broker_fees: bool, seed: int = 7
) -> list[tuple[Any, ...]]:
    """Executions as COPY records (columns: see COLUMNS)."""
    rng = random.Random(seed)
    start = datetime(2022, 1, 3, 4, 0, tzinfo=UTC)  # 09:30 IST, inside the charges rate table
    command_id = uuid.uuid4()
    records = []
    for i in range(trades):
        at = start + timedelta(days=i // 80, minutes=(i % 80) * 4)
        qty = Decimal(rng.randint(1, 200))
        price = Decimal(rng.randint(10_000, 400_000)) / 100
        exit_price = price + Decimal(rng.randint(-300, 300)) / 100
        symbol = SYMBOLS[i % len(SYMBOLS)]
        for side, px, when in (("buy", price, at), ("sell", exit_price, at + timedelta(minutes=5))):
            fees = Decimal(rng.randint(500, 4000)) / 100 if broker_fees else None
            records.append(
                (
                    uuid.uuid4(),
                    user_id,
                    account_id,
                    command_id,
                    symbol,
                    "NSE",
                    "equity",
                    side,
                    qty,
                    px,
                    fees,
                    "INR",
                    when,
                    "MIS",
                )
            )
    return records


COLUMNS = (
    "id",
    "user_id",
    "account_id",
    "command_id",
    "symbol",
    "exchange",
    "segment",
    "side",
    "quantity",
    "price",
    "fees",
    "currency",
    "executed_at",
    "product",
)


async def load_history(url: str, trades: int, broker_fees: bool) -> tuple[uuid.UUID, uuid.UUID]:
    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    user_id, account_id = uuid.uuid4(), uuid.uuid4()
    conn = await asyncpg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, password=parsed.password, database=parsed.database
    )
    try:
        await conn.execute(
            "INSERT INTO trades.accounts (id, user_id, name, starting_balance) VALUES ($1, $2, 'Bench', 10000000)",
            account_id,
            user_id,
        )
        records = history(user_id, account_id, trades, broker_fees)
        await conn.copy_records_to_table("executions", schema_name="trades", columns=COLUMNS, records=records)
        await conn.execute("ANALYZE trades.executions")
    finally:
        await conn.close()
    return user_id, account_id


async def rebuild(url: str, user_id: uuid.UUID) -> dict[str, Any]:
    from sqlalchemy import text

    from tj_common.db import make_engine, make_sessionmaker
    from tj_trades import projection
    from tj_trades.settings import Settings

    engine = make_engine(Settings(database_url=url), pool_size=1)
    try:
        sessionmaker = make_sessionmaker(engine)
        full: dict[str, dict[str, float]] = {}
        sums = []
        for name, windowed in (("one_pass", False), ("windowed", True)):
            gc.collect()
            base = reset_peak_rss()
            started = time.perf_counter()
            async with sessionmaker() as session, session.begin():
                await projection.rebuild(session, user_id, windowed=windowed)
            full[name] = {
                "seconds": round(time.perf_counter() - started, 3),
                "peak_rss_growth_mb": round(own_peak_rss_mb() - base, 1),
            }
            async with sessionmaker() as session:
                sums.append(await projection.checksum(session, user_id))
        if sums[0] != sums[1]:
            raise RuntimeError(f"the windowed rebuild differs from the one-pass rebuild: {sums[1]} != {sums[0]}")
        summed = sums[1]
        started = time.perf_counter()
        async with sessionmaker() as session, session.begin():
            await projection.rebuild_rollups(session, user_id)
        rollups = time.perf_counter() - started
        async with sessionmaker() as session:
            again = await projection.checksum(session, user_id)
        if again != summed:
            raise RuntimeError(f"the rollups rebuilt from the round trips differ: {again} != {summed}")
        async with engine.connect() as connection:
            await connection.execute(text("ANALYZE trades.trade_rows"))
            await connection.execute(text("ANALYZE trades.daily_rollups"))
            await connection.commit()
    finally:
        await engine.dispose()
    return {
        "rollups_seconds": round(rollups, 3),
        "from_executions_seconds": full["windowed"]["seconds"],
        "from_executions": full,
        **summed,
    }


def own_peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM) in MB."""
    peak = peak_rss_mb(os.getpid())
    if peak is None:
        raise RuntimeError("no VmHWM in /proc/self/status")
    return peak


def reset_peak_rss() -> float:
    """Reset the peak to the current resident set (Linux: clear_refs 5); that resident set, MB."""
    Path("/proc/self/clear_refs").write_text("5")
    return own_peak_rss_mb()


async def summaries(
    base: str, user_id: uuid.UUID, requests: int, bump: bool, url: str | None = None
) -> tuple[list[float], dict[str, Any]]:
    """``bump``: a cache miss each time; ``url``: and the summary snapshot dropped each time, so
    the summary is chained from the daily rollups."""
    import asyncpg
    import redis.asyncio as aioredis
    from sqlalchemy.engine import make_url

    from tj_common.settings import ServiceSettings
    from tj_trades.cache import version_key

    redis = aioredis.from_url(ServiceSettings().redis_url)
    times: list[float] = []
    body: dict[str, Any] = {}
    conn = None
    if url is not None:
        parsed = make_url(url)
        conn = await asyncpg.connect(
            host=parsed.host, port=parsed.port, user=parsed.username, password=parsed.password, database=parsed.database
        )
    # The write path's minimal keep-alive client: httpx spent 1-2 ms of this machine's CPU per
    # request on its own, a third of the cached goal, and that is the client's time, not the
    # service's.
    host, port = base.removeprefix("http://").split(":")
    _, raw = await asyncio.get_running_loop().create_connection(_RawConnection, host, int(port))
    request = f"GET /internal/analytics/summary?user_id={user_id} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    try:
        for i in range(requests + 3):
            if conn is not None:
                await conn.execute("DELETE FROM trades.summary_snapshots WHERE user_id = $1", user_id)
            if bump:
                await redis.incr(version_key(user_id))
            assert raw.transport is not None
            started = time.perf_counter()
            raw.waiter = asyncio.get_running_loop().create_future()
            raw.transport.write(request)
            status = await raw.waiter
            elapsed = time.perf_counter() - started
            if status != 200:
                raise RuntimeError(f"summary answered {status}: {raw.body[:300]!r}")
            body = json.loads(raw.body)
            if i >= 3:  # the first requests warm connections and caches
                times.append(elapsed)
    finally:
        if raw.transport is not None:
            raw.transport.close()
        await redis.aclose()
        if conn is not None:
            await conn.close()
    return sorted(times), body


def stats(times: list[float]) -> dict[str, Any]:
    return {
        "requests": len(times),
        "p50_ms": ms(percentile(times, 50)),
        "p95_ms": ms(percentile(times, 95)),
        "p99_ms": ms(percentile(times, 99)),
        "max_ms": ms(times[-1] if times else None),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.analytics", description=__doc__)
    parser.add_argument("--trades", type=int, default=100_000, help="closed trades of the user (2 executions each)")
    parser.add_argument("--requests", type=int, default=200, help="summary requests per variant")
    parser.add_argument("--fees", choices=("estimated", "broker"), default="estimated")
    parser.add_argument("--output-dir", default=str(RESULTS_DIR))
    args = parser.parse_args(argv)
    started = datetime.now(UTC)
    run_id = secrets.token_hex(4)
    prefix = f"bench-{run_id}."
    os.environ["KAFKA_TOPIC_PREFIX"] = prefix
    from tj_common.topics import ensure_topics
    from tj_trades.settings import Settings as TradesSettings

    settings = TradesSettings(environment="development")
    database = OwnDatabase(run_id, {"trades": settings.database_url})
    for service, url in database.service_urls.items():
        os.environ[f"{service.upper()}_DATABASE_URL"] = url
    port = harness.free_port()
    proc = harness.ServiceProcess(
        "trades", port, {"ENVIRONMENT": "development", "LOG_LEVEL": "WARNING", "KAFKA_TOPIC_PREFIX": prefix}
    )
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    say(f"bench run {run_id}: database {database.name}, trades :{port}, {args.trades} trades ({args.fees} charges)")
    try:
        run_async(database.create)
        database.migrate()
        run_async(lambda: ensure_topics(settings.kafka_bootstrap_servers, settings.topic_partitions, 1))
        url = database.service_urls["trades"]
        user_id, _ = run_async(lambda: load_history(url, args.trades, args.fees == "broker"))
        say(f"loaded {2 * args.trades} executions")
        rebuilt = run_async(lambda: rebuild(url, user_id))
        say(
            f"rebuild for {rebuilt['trades']} trades, {rebuilt['days']} rollup rows: rollups "
            f"{rebuilt['rollups_seconds']} s; everything from the executions {rebuilt['from_executions']}"
        )
        proc.start({"INSTANCE_ID": f"bench-{run_id}-trades"})
        proc.wait_healthy(timeout=90.0)
        # Timed requests from a client that does not pause: what loading the history left in
        # this process would otherwise be walked by every full collection (see bench/README.md).
        gc.collect()
        gc.freeze()
        chained, _ = run_async(lambda: summaries(proc.url, user_id, args.requests // 4, bump=True, url=url))
        say(f"uncached summary chained from the daily rollups (no snapshot): {stats(chained)}")
        uncached, body = run_async(lambda: summaries(proc.url, user_id, args.requests, bump=True))
        say(f"uncached summary (stored snapshot): {stats(uncached)}")
        cached, cached_body = run_async(lambda: summaries(proc.url, user_id, args.requests, bump=False))
        say(f"cached summary: {stats(cached)}")
        if body != cached_body or body["trade_count"] != args.trades:
            raise RuntimeError(f"unexpected summary: {body.get('trade_count')} trades")
        report = {
            "benchmark": "analytics",
            "at": started.isoformat(),
            **git_info(),
            "machine": machine_info(),
            "closed_trades": args.trades,
            "executions": 2 * args.trades,
            "charges": args.fees,
            "rebuild": rebuilt,
            "summary_uncached": stats(uncached),
            "summary_uncached_chained_from_rollups": stats(chained),
            "summary_cached": stats(cached),
            "net_pnl": body["net_pnl"],
            "goals": {
                "summary_uncached_p95_ms": {
                    "goal": GOALS["summary_uncached_p95_ms"],
                    "value": ms(percentile(uncached, 95)),
                    "pass": (percentile(uncached, 95) or 1e9) * 1000 <= GOALS["summary_uncached_p95_ms"],
                },
                "summary_cached_p95_ms": {
                    "goal": GOALS["summary_cached_p95_ms"],
                    "value": ms(percentile(cached, 95)),
                    "pass": (percentile(cached, 95) or 1e9) * 1000 <= GOALS["summary_cached_p95_ms"],
                },
                "rebuild_rollups_s": {
                    "goal": GOALS["rebuild_rollups_s"],
                    "value": rebuilt["rollups_seconds"],
                    "pass": rebuilt["rollups_seconds"] <= GOALS["rebuild_rollups_s"],
                },
            },
        }
        write_report(report, Path(args.output_dir), "analytics")
        for goal, verdict in report["goals"].items():
            print(f"goal {goal}: {'PASS' if verdict['pass'] else 'FAIL'} ({verdict['value']})")
        return 0
    except KeyboardInterrupt:
        return 130
    except RuntimeError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    finally:
        teardown_run([proc], settings, settings.topic_partitions, database)


if __name__ == "__main__":
    sys.exit(main())
