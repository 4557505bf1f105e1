"""The compiled engines (tj_trades._native): used only when built from the sources as they are, and
giving exactly what the pure-Python modules give.

The equivalence runs the same executions through both in two fresh interpreters (TJ_NATIVE=0 and
the build), over every path the projection takes per execution: estimated Indian charges (intraday,
delivery, inferred products, multi-fill orders, futures, options, exercised options, three brokerage
plans, days before the rate table), broker charges, commission schedules, long-only accounts,
flips, open positions; then the metrics of the closed trades, the trade and charge rows a refresh
stores (tj_trades.projection_rows) and a rollup composite."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tj_trades import _native

REQUIRED = os.environ.get("TJ_NATIVE_REQUIRED") == "1"  # CI: the build must be in use


def _python(code: str, **env: str) -> str:
    """Run ``code`` in a fresh interpreter; ``env`` over this one's, without its TJ_NATIVE (the
    pure-Python pass of `make test` sets it: here each run says which it wants)."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**{k: v for k, v in os.environ.items() if k != "TJ_NATIVE"}, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _status(**env: str) -> tuple[bool, str]:
    out = _python("import tj_trades._native as n, json; print(json.dumps([n.active, n.reason]))", **env)
    active, reason = json.loads(out.splitlines()[-1])
    return active, reason


def test_the_build_is_in_use_where_it_is_required() -> None:
    active, reason = _status()
    if not REQUIRED and not active:
        pytest.skip(f"no compiled build: {reason}")
    assert active, reason
    out = _python("import tj_trades.tradebook as t, tj_trades.domain.charges.india as i; print(t.__file__, i.__file__)")
    assert all(path.endswith(".so") for path in out.split()), out


def test_tj_native_0_runs_the_sources() -> None:
    assert _status(TJ_NATIVE="0") == (False, "off (TJ_NATIVE=0)")
    out = _python("import tj_trades.tradebook as t; print(t.__file__)", TJ_NATIVE="0")
    assert out.strip().endswith("tradebook.py")


def test_a_build_of_other_sources_or_a_partial_one_is_not_used(tmp_path: Path) -> None:
    (tmp_path / _native.STAMP).write_text(json.dumps({"digest": "0" * 64, "modules": {}}), encoding="utf-8")
    active, reason = _status(TJ_NATIVE_DIR=str(tmp_path))
    assert not active and "other sources" in reason
    (tmp_path / _native.STAMP).write_text(
        json.dumps({"digest": _native.digest(), "modules": {m: f"{m}.so" for m in _native.MODULES}}), encoding="utf-8"
    )
    active, reason = _status(TJ_NATIVE_DIR=str(tmp_path))
    assert not active and "incomplete" in reason
    active, reason = _status(TJ_NATIVE_DIR=str(tmp_path / "nothing"))
    assert not active and "no build" in reason
    out = _python("import tj_trades.tradebook as t; print(t.__file__)", TJ_NATIVE_DIR=str(tmp_path))
    assert out.strip().endswith("tradebook.py")  # the sources run instead


def test_the_digest_follows_every_source_of_the_engines(tmp_path: Path) -> None:
    package = tmp_path / "tj_trades"
    shutil.copytree(Path(_native.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    before = _native.digest(package)
    assert before == _native.digest(Path(_native.__file__).parent)
    rates = package / "domain" / "charges" / "rates.py"  # imported by the engines, not compiled
    rates.write_text(rates.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert _native.digest(package) != before


# Run in both interpreters: prints one JSON document of everything the engines produce.
_WORKLOAD = """
import json, random, uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from tj_trades import pgarrays, projection_rows, tradebook
from tj_trades.domain import metrics

rng = random.Random(20261204)
INDIA, LONG_ONLY, FLAT, ZERO, ABROAD = (uuid.UUID(int=i) for i in range(1, 6))
def indian(plan, long_only=False):
    return {"brokerage_plan": plan, "commission_schedule": None, "long_only": long_only, "timezone": "Asia/Kolkata"}
accounts = {
    INDIA: indian("zerodha"),
    LONG_ONLY: indian("zerodha", long_only=True),
    FLAT: indian("flat20"),
    ZERO: indian("zero"),
    ABROAD: {
        "brokerage_plan": None,
        "commission_schedule": {"per_share": "0.005", "min_per_order": "1", "max_per_order": "25"},
        "long_only": False,
        "timezone": "America/New_York",
    },
}
INDIAN = [
    ("NSE", "TCS", "equity"), ("BSE", "INFY", "equity"), ("NSE", "SBIN", None),
    ("NFO", "NIFTY25JUNFUT", "futures"), ("NFO", "BANKNIFTY25JUN52000CE", "options"),
    ("NFO", "NIFTY2560524750PE", None), ("BFO", "SENSEX25JUN80000CE", "options"),
]
EPISODES = [  # (side, quantity as multiples of q) from flat back to flat; flips go through zero
    [("buy", 1), ("sell", 1)], [("sell", 1), ("buy", 1)], [("buy", 1), ("buy", 1), ("sell", 2)],
    [("buy", 1), ("sell", 2), ("buy", 1)], [("buy", 2), ("sell", 1), ("sell", 1)],
    [("sell", 2), ("buy", 3), ("sell", 1)],
]
rows = []
clock = {}
start = datetime(2020, 6, 20, 4, 0, tzinfo=UTC)  # from before the rate table's first day
while len(rows) < 6000:
    account = rng.choice([INDIA, INDIA, INDIA, LONG_ONLY, FLAT, ZERO, ABROAD])
    if account == ABROAD:
        exchange, symbol, segment, currency = "NASDAQ", rng.choice(["AAPL", "MSFT"]), "equity", "USD"
    else:
        (exchange, symbol, segment), currency = rng.choice(INDIAN), "INR"
    q = Decimal(rng.choice([1, 2, 5, 15, 75, 100, 250])) * (Decimal("0.5") if rng.random() < 0.02 else 1)
    at = clock.get((account, symbol), start) + timedelta(days=rng.choice([0, 0, 0, 1, 3]), minutes=rng.randint(1, 90))
    product = rng.choice(["MIS", "CNC", "NRML", None]) if segment in ("equity", None) else None
    last = len(rows) >= 5950  # the last few open a position and leave it open
    for side, times in [("buy", 1)] if last else rng.choice(EPISODES):
        at += timedelta(minutes=rng.randint(0, 200), seconds=rng.randint(0, 59))
        fees = charges = None
        kind = rng.random()
        if kind < 0.05:
            fees = Decimal(rng.randint(0, 5000)).scaleb(-2)
        elif kind < 0.08:
            charges = {"brokerage": str(Decimal(rng.randint(0, 2000)).scaleb(-2)), "stt": str(rng.randint(0, 9))}
            fees = Decimal(rng.randint(0, 4000)).scaleb(-2) if rng.random() < 0.5 else None
        rows.append({
            "id": uuid.UUID(int=rng.getrandbits(128)),
            "account_id": account,
            "exchange": exchange,
            "symbol": symbol,
            "segment": segment,
            "side": side,
            "quantity": q * times,
            "price": Decimal(rng.randint(1, 500000)).scaleb(-rng.choice([2, 2, 2, 1, 4])),
            "executed_at": at,
            "product": product if rng.random() < 0.9 else None,
            "broker_order_id": f"o{rng.randint(0, 3)}" if rng.random() < 0.3 else None,
            "broker_trade_id": f"t{len(rows)}",
            "fees": fees,
            "charges": charges,
            "currency": currency,
        })
    clock[(account, symbol)] = at
rng.shuffle(rows)
charges = tradebook.charges_of(rows, accounts)
book = tradebook.book(rows, accounts, charges)
def text(value):
    return None if value is None else str(value)
closed = [c for t in book.trades if (c := tradebook.closed_trade(t, None)) is not None]
summary = metrics.compute_metrics(closed)
records, closes = projection_rows.trade_records(uuid.UUID(int=9), rows, accounts, charges)
charge_days = projection_rows.charge_days_columns(rows, charges)
entries = projection_rows.day_entries(e for e in charge_days[2].split(pgarrays.SEP)[1:] if e != pgarrays.NULL)
some = dict(list(entries.items())[::2])  # half of them stored
in_close_order = sorted((r for r in records if r["status"] == "closed"), key=projection_rows.close_order)
print(json.dumps({
    "charges": sorted([str(k), text(v.total), v.source, tradebook.lines_json(v.lines)] for k, v in charges.items()),
    "trades": [
        [str(t.id), str(t.account_id), t.symbol, str(t.side), str(t.status), t.opened_at.isoformat(),
         text(t.closed_at), str(t.quantity), text(t.average_entry_price), text(t.average_exit_price),
         text(t.gross_pnl), str(t.charges), text(t.net_pnl), book.sources[t.id],
         tradebook.lines_json(book.breakdown(t)),
         [[str(leg.execution_id), str(leg.role), str(leg.quantity), str(leg.charges)] for leg in t.legs]]
        for t in book.trades
    ],
    "metrics": repr(summary),
    "daily": repr(metrics.daily_series(closed)),
    "columns": pgarrays.texts([text(t.net_pnl) for t in book.trades]),
    "trade_columns": projection_rows.trade_columns(records),
    "charge_days": charge_days,
    "changed": sorted(str(g) for g in projection_rows.changed_groups(rows, charges, {})),
    "changed_some": sorted(str(g) for g in projection_rows.changed_groups(rows, charges, some)),
    "stored": sorted(
        [str(k), text(v.total), v.source, tradebook.lines_json(v.lines)]
        for k, v in projection_rows.stored_charges(some, [r["id"] for r in rows]).items()
    ),
    "closes": sorted(str(c) for c in closes),
    "composite": repr(projection_rows.day_composite(in_close_order)),
}, sort_keys=True))
"""


def test_the_compiled_engines_give_what_the_sources_give() -> None:
    active, reason = _status()
    if not active:
        if REQUIRED:
            pytest.fail(f"the compiled build is required and not in use: {reason}")
        pytest.skip(f"no compiled build: {reason}")
    compiled = json.loads(_python(_WORKLOAD))
    pure = json.loads(_python(_WORKLOAD, TJ_NATIVE="0"))
    assert len(compiled["trades"]) > 1500 and len(compiled["charges"]) == len(pure["charges"]) >= 6000
    sources = {c[2] for c in compiled["charges"]}
    assert {"estimated", "broker", "none"} <= sources  # every kind of charges was priced
    for part in pure:
        assert compiled[part] == pure[part], part
