"""Parse-only throughput of the broker-file parsers, per format family: rows per second from
``Source.open`` + detection + every row normalised (no I/O beyond reading the local file).

Each case generates a large synthetic file in a representative layout (not timed), then parses
it in a fresh child process so each case's peak RSS is its own:

- csv:  IBKR Flex trades CSV (quoted, 18 columns) and our import template;
- xlsx: MetaTrader 5 report workbook (openpyxl read-only stream);
- html: MetaTrader 5 report HTML (stdlib HTMLParser, fed in chunks);
- the Zerodha Console tradebook CSV, when its parser exists.

Writes bench/results/parse_formats.json (and a timestamped copy).

    uv run python -m bench.parse_formats [--rows 100000] [--xlsx-rows 20000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
SYMBOLS = ["AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "META", "GOOGL", "AMD", "NFLX", "SPY"]
NSE = ["RELIANCE", "INFY", "TCS", "HDFCBANK", "ICICIBANK", "SBIN", "ITC", "LT", "AXISBANK", "KOTAKBANK"]
FOREX = ["EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "AUDUSD"]


def _fills(rows: int, seed: int = 11) -> list[tuple[datetime, int, int, int, bool]]:
    """(time, symbol index, quantity, price in cents, buy?) for ``rows`` fills."""
    rng = random.Random(seed)
    start = datetime(2025, 1, 2, 9, 30)
    return [
        (
            start + timedelta(days=i // 2000, seconds=(i % 2000) * 11),
            rng.randrange(10),
            rng.randint(1, 500),
            rng.randint(1_000, 90_000),
            rng.random() < 0.5,
        )
        for i in range(rows)
    ]


def write_ibkr_flex(path: Path, rows: int) -> None:
    header = (
        '"ClientAccountID","CurrencyPrimary","AssetClass","Symbol","UnderlyingSymbol","Multiplier","Put/Call",'
        '"TradeID","OrderID","Date/Time","SettleDate","Buy/Sell","Quantity","Price","Proceeds","NetCash",'
        '"Commission","Code"\n'
    )
    with path.open("w") as out:
        out.write(header)
        for i, (at, s, qty, cents, buy) in enumerate(_fills(rows)):
            signed = qty if buy else -qty
            price = f"{cents / 100:.2f}"
            out.write(
                f'"U1234567","USD","STK","{SYMBOLS[s]}","{SYMBOLS[s]}","1","","{500000 + i}","{900000 + i}",'
                f'"{at:%Y%m%d;%H%M%S}","{at:%Y%m%d}","{"BUY" if buy else "SELL"}","{signed}","{price}",'
                f'"{-signed * cents / 100:.2f}","{-signed * cents / 100 - 1:.2f}","-1","O"\n'
            )


def write_template(path: Path, rows: int) -> None:
    with path.open("w") as out:
        out.write("date,time,timezone,symbol,exchange,segment,side,quantity,price,fees,currency,broker_trade_id\n")
        for i, (at, s, qty, cents, buy) in enumerate(_fills(rows)):
            out.write(
                f"{at:%Y-%m-%d},{at:%H:%M:%S},Asia/Kolkata,{NSE[s]},NSE,equity,{'buy' if buy else 'sell'},"
                f"{qty},{cents / 100:.2f},{qty * 0.03:.2f},INR,T{i}\n"
            )


def write_zerodha(path: Path, rows: int) -> None:
    with path.open("w") as out:
        out.write(
            "symbol,isin,trade_date,exchange,segment,series,trade_type,auction,quantity,price,trade_id,order_id,"
            "order_execution_time\n"
        )
        for i, (at, s, qty, cents, buy) in enumerate(_fills(rows)):
            out.write(
                f"{NSE[s]},INE00{s}A01018,{at:%Y-%m-%d},NSE,EQ,EQ,{'buy' if buy else 'sell'},false,"
                f"{qty:.6f},{cents / 100:.6f},{80000000 + i},{1300000000000000 + i // 3},{at:%Y-%m-%dT%H:%M:%S}\n"
            )


MT5_DEALS = ["Time", "Deal", "Symbol", "Type", "Direction", "Volume", "Price", "Order", "Commission", "Fee", "Swap",
             "Profit", "Balance", "Comment"]  # fmt: skip


def _mt5_deal(i: int, fill: tuple[datetime, int, int, int, bool]) -> list[Any]:
    at, s, qty, cents, buy = fill
    return [
        f"{at:%Y.%m.%d %H:%M:%S}", 100000 + i, FOREX[s % 5], "buy" if buy else "sell", "in" if i % 2 else "out",
        f"{qty / 100:.2f}", f"{cents / 10000:.5f}", 200000 + i, "-0.35", "0.00", "0.00", "0.00", "10 000.00", "",
    ]  # fmt: skip


def write_mt5_html(path: Path, rows: int) -> None:
    with path.open("w") as out:
        out.write(
            '<html><head><title>5012345: Bench - Trade History Report</title></head><body><div align="center">'
            '<table cellspacing="1" cellpadding="3" border="0">\n'
            '<tr align="center"><td colspan="14"><div><b>Trade History Report</b></div></td></tr>\n'
            '<tr align="center"><th colspan="14"><div><b>Deals</b></div></th></tr>\n<tr align="center">'
            + "".join(f"<td nowrap><b>{h}</b></td>" for h in MT5_DEALS)
            + "</tr>\n"
        )
        for i, fill in enumerate(_fills(rows)):
            cells = "".join(f"<td>{c}</td>" for c in _mt5_deal(i, fill))
            out.write(f'<tr bgcolor="#FFFFFF" align="right">{cells}</tr>\n')
        out.write("</table></div></body></html>\n")


def write_mt5_xlsx(path: Path, rows: int) -> None:
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Sheet1")
    sheet.append(["Trade History Report"])
    sheet.append(["Deals"])
    sheet.append(MT5_DEALS)
    for i, fill in enumerate(_fills(rows)):
        row = _mt5_deal(i, fill)
        row[5], row[6] = float(row[5]), float(row[6])  # the terminal writes numbers as numbers
        sheet.append(row)
    workbook.save(path)


CASES: dict[str, tuple[str, str, Callable[[Path, int], None], str]] = {
    # case -> (family, expected parser, writer, rows option)
    "csv/ibkr_flex": ("csv", "ibkr_flex_csv", write_ibkr_flex, "rows"),
    "csv/generic_template": ("csv", "generic_template_csv", write_template, "rows"),
    "csv/zerodha_tradebook": ("csv", "zerodha_tradebook_csv", write_zerodha, "rows"),
    "html/mt5_report": ("html", "mt5_report_html", write_mt5_html, "rows"),
    "xlsx/mt5_report": ("xlsx", "mt5_report_xlsx", write_mt5_xlsx, "xlsx_rows"),
}


def _parse_in_child(path: str, queue: Any) -> None:
    from tj_imports.formats import registry
    from tj_imports.formats.base import ParsedRow

    registry.all_parsers()  # imports every parser module: start-up, not parsing
    started = time.perf_counter()
    parser, rows = registry.parse_file(Path(path))
    parsed = errors = 0
    for item in rows:
        if isinstance(item, ParsedRow):
            parsed += 1
        else:
            errors += 1
    seconds = time.perf_counter() - started
    queue.put(
        {
            "parser": parser.name,
            "rows": parsed,
            "row_errors": errors,
            "seconds": seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )


def measure(path: Path) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_parse_in_child, args=(str(path), queue))
    child.start()
    result: dict[str, Any] = queue.get(timeout=3600)
    child.join()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="rows of each CSV and HTML file")
    parser.add_argument("--xlsx-rows", type=int, default=20_000, help="rows of the workbook")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", action="append", help="run only these cases (e.g. html/mt5_report)")
    args = parser.parse_args()

    from tj_imports.formats import registry

    known = registry.all_parsers()
    results: dict[str, Any] = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tj-bench-parse-") as directory:
        for case, (family, expected, writer, rows_option) in CASES.items():
            if args.only and case not in args.only:
                continue
            if expected not in known:
                print(f"{case}: skipped ({expected} is not written yet)")
                continue
            rows = getattr(args, rows_option)
            path = Path(directory) / case.replace("/", "-")
            writer(path, rows)
            runs = [measure(path) for _ in range(args.repeats)]
            for run in runs:
                if run["parser"] != expected or run["rows"] != rows or run["row_errors"]:
                    print(f"{case}: unexpected result {run}", file=sys.stderr)
                    return 1
            median = statistics.median(r["seconds"] for r in runs)
            results[case] = {
                "family": family,
                "parser": expected,
                "rows": rows,
                "file_mb": round(path.stat().st_size / 2**20, 1),
                "seconds": [round(r["seconds"], 3) for r in runs],
                "median_seconds": round(median, 3),
                "rows_per_second": round(rows / median),
                "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
            }
            print(
                f"{case:24} {rows:>9,} rows  {results[case]['file_mb']:>6} MB  {median:7.2f} s  "
                f"{rows / median:>10,.0f} rows/s  peak RSS {results[case]['peak_rss_mb']} MB"
            )
            path.unlink()

    result = {
        "benchmark": "parse_formats",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
        "settings": {"rows": args.rows, "xlsx_rows": args.xlsx_rows, "repeats": args.repeats},
        # The machine is shared: the 1/5/15-minute load averages before and after say how much.
        "load_average": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]},
        "cpus": os.cpu_count(),
        "what": "parse only: Source.open + detect + every row normalised, one child process per run",
        "cases": results,
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for name in (f"parse_formats-{stamp}.json", "parse_formats.json"):
        (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {RESULTS / 'parse_formats.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
