"""Operator commands of the trades service: ``python -m tj_trades.ops <command>``.

rebuild-rollups [--user UUID] [--from-executions]
                                bring each user's live projection up to date, rebuild the daily
                                rollups from the stored round trips (with --from-executions: the
                                charges and round trips too, from the executions), and print one
                                JSON line per user: the live and the rebuilt checksum, whether they
                                are equal, the trade and day counts and the time taken. Exit status
                                1 when any user's projection differed (it is then the rebuilt one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from typing import Any

from sqlalchemy import select, union

from tj_common.db import make_engine, make_sessionmaker
from tj_trades import projection
from tj_trades.models import executions, trade_rows
from tj_trades.settings import Settings


async def rebuild_user(session: Any, user_id: uuid.UUID, from_executions: bool = False) -> dict[str, Any]:
    """In the caller's transaction: the live checksum, then the rebuilt one."""
    started = time.perf_counter()
    await projection.refresh(session, user_id)
    live = await projection.checksum(session, user_id)
    if from_executions:
        await projection.rebuild(session, user_id)
    else:
        await projection.rebuild_rollups(session, user_id)
    rebuilt = await projection.checksum(session, user_id)
    return {
        "user_id": str(user_id),
        "live": live["checksum"],
        "rebuilt": rebuilt["checksum"],
        "equal": live == rebuilt,
        "trades": rebuilt["trades"],
        "days": rebuilt["days"],
        "seconds": round(time.perf_counter() - started, 3),
    }


async def rebuild_rollups(user: uuid.UUID | None, from_executions: bool = False) -> int:
    engine = make_engine(Settings(), pool_size=2)
    sessionmaker = make_sessionmaker(engine)
    differed = 0
    try:
        async with sessionmaker() as session:
            if user is not None:
                users = [user]
            else:
                query = union(select(executions.c.user_id), select(trade_rows.c.user_id))
                users = sorted((await session.execute(query)).scalars(), key=str)
        for user_id in users:
            async with sessionmaker() as session, session.begin():
                result = await rebuild_user(session, user_id, from_executions)
            differed += not result["equal"]
            print(json.dumps(result), flush=True)
    finally:
        await engine.dispose()
    return 1 if differed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tj_trades.ops", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    rebuild = commands.add_parser("rebuild-rollups", help="rebuild the round-trip projection and daily rollups")
    rebuild.add_argument("--user", type=uuid.UUID, default=None, help="only this user")
    rebuild.add_argument(
        "--from-executions",
        action="store_true",
        help="also recompute every execution's charges and the round trips (slower)",
    )
    args = parser.parse_args(argv)
    if args.command == "rebuild-rollups":
        return asyncio.run(rebuild_rollups(args.user, args.from_executions))
    return 2


if __name__ == "__main__":
    sys.exit(main())
