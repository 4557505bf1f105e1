"""Benchmark of the trade math on one user's history (no I/O): round trips from executions with
charges estimated per contract note, then the version-1 metrics. Writes JSON under bench/results/.

    uv run python -m bench.trade_engine [--executions 200000]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from tj_trades import tradebook
from tj_trades.domain import metrics

RESULTS = Path(__file__).resolve().parent / "results"
SYMBOLS = ["RELIANCE", "INFY", "TCS", "HDFCBANK", "ICICIBANK", "SBIN", "ITC", "LT", "AXISBANK", "KOTAKBANK"]


def history(executions: int, seed: int = 7) -> list[dict[str, Any]]:
    """Intraday round trips (buy then sell the same quantity), two executions each, over many days."""
    rng = random.Random(seed)
    account = uuid.uuid4()
    start = datetime(2022, 1, 3, 4, 0, tzinfo=UTC)
    rows = []
    for i in range(executions // 2):
        at = start + timedelta(days=i // 40, minutes=(i % 40) * 9)
        qty = Decimal(rng.randint(1, 200))
        price = Decimal(rng.randint(10_000, 400_000)) / 100
        exit_price = price + Decimal(rng.randint(-300, 300)) / 100
        symbol = SYMBOLS[i % len(SYMBOLS)]
        for side, px, when in (("buy", price, at), ("sell", exit_price, at + timedelta(minutes=5))):
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "account_id": account,
                    "symbol": symbol,
                    "exchange": "NSE",
                    "segment": "equity",
                    "side": side,
                    "quantity": qty,
                    "price": px,
                    "executed_at": when,
                    "fees": None,
                    "currency": "INR",
                    "broker_trade_id": None,
                    "broker_order_id": None,
                    "product": "MIS",
                }
            )
    rng.shuffle(rows)  # arrival order must not matter
    return rows


def timed(fn: Any, repeats: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--executions", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = history(args.executions)
    engine_times, (trades, _) = timed(lambda: tradebook.round_trips(rows), args.repeats)
    closed = [metrics.ClosedTrade.from_round_trip(t) for t in trades if t.status == "closed"]
    metrics_times, summary = timed(lambda: metrics.compute_metrics(closed), args.repeats)
    result = {
        "benchmark": "trade_engine",
        "at": datetime.now(UTC).isoformat(),
        "commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
        "executions": len(rows),
        "closed_trades": len(closed),
        "round_trips_with_charges_s": {"median": statistics.median(engine_times), "all": engine_times},
        "metrics_s": {"median": statistics.median(metrics_times), "all": metrics_times},
        "summary_uncached_s": statistics.median(engine_times) + statistics.median(metrics_times),
        "goal": "analytics summary for 100,000 closed trades: p95 <= 100 ms uncached (issue 3)",
        "net_pnl": str(summary.net_pnl),
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for name in (f"trade_engine-{stamp}.json", "trade_engine-latest.json"):
        (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{len(rows)} executions -> {len(closed)} closed trades: round trips + charges "
        f"{result['round_trips_with_charges_s']['median']:.2f} s, metrics {result['metrics_s']['median']:.2f} s "
        f"(median of {args.repeats})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
