"""Benchmark of a large import: a generated Zerodha Console tradebook CSV of 1,000,000 rows, from
the start of the upload to the moment its trades are committed (the import reads ``completed``).

Run from the repository root (the infrastructure must be up, as ``make bench`` does)::

    uv run python -m bench.import_1m                 # 1,000,000 rows (a ~115 MB file)
    uv run python -m bench.import_1m --rows 100000   # a quicker run

Like bench/write_path.py it starts its own gateway, trades and imports processes on free ports,
on topics of its own (``KAFKA_TOPIC_PREFIX=bench-<run>.``) and a database of its own
(``tj_bench_<run>``), removed at the end. The file is larger than the default upload limit
(IMPORT_MAX_BYTES, 50 MiB), so this run's gateway allows 256 MiB.

Then, unless ``--overlap-rows 0``, a second file is imported into the same account: half of its
fills are the first file's last ones (duplicates), half are new. Its time shows what staging
costs once an account holds a large import (each staged row is checked against it by index).

Measured: the phases (upload answered 202; rows read; committed) from the import's own status,
followed through its event stream (``/events``); each service's CPU seconds and its peak resident memory (``VmHWM`` from
/proc/<pid>/status). Goals (issue 5): ≤ 30 s upload → committed; imports service peak RSS ≤ 256 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.write_path import (
    BenchDatabase,
    _raise_interrupt,
    git_info,
    machine_info,
    postgres_cpu,
    proc_cpu,
    run_async,
    say,
    teardown_run,
    write_report,
)
from tests import harness

ROOT = harness.ROOT
RESULTS_DIR = ROOT / "bench" / "results"
GOAL_SECONDS = 30.0
GOAL_IMPORTS_RSS_MB = 256.0
HEADER = (
    "symbol,isin,trade_date,exchange,segment,series,trade_type,auction,quantity,price,trade_id,order_id,"
    "order_execution_time\n"
)
SYMBOLS = ("RELIANCE", "TCS", "INFY", "HDFCBANK", "ICICIBANK", "SBIN", "ITC", "LT", "AXISBANK", "WIPRO")
ISIN = "INE002A01018"


def generate(path: Path, rows: int, first: int = 0) -> int:
    """A tradebook of ``rows`` fills: buy/sell pairs per symbol (so they close into round trips),
    spread over trading days of 2025-2026, each fill with its own trade id. Returns the size.
    ``first`` is the first fill's number: files from overlapping ranges share those fills."""
    with path.open("w", newline="") as out:
        out.write(HEADER)
        lines = []
        for n in range(first, first + rows):
            pair, leg = divmod(n, 2)
            symbol = SYMBOLS[pair % len(SYMBOLS)]
            day = pair // 2000  # 1,000 round trips a day
            year, rest = divmod(day, 240)
            month, dom = divmod(rest, 20)
            date = f"{2025 + year % 2}-{month + 1:02d}-{dom + 1:02d}"
            second = (pair % 2000) * 10 + leg * 5  # entry, then exit 5 s later
            hh, mm, ss = 9 + second // 3600, (second // 60) % 60, second % 60
            side = "buy" if leg == 0 else "sell"
            price = f"{1000 + pair % 500}.{leg * 5:02d}"
            lines.append(
                f"{symbol},{ISIN},{date},NSE,EQ,EQ,{side},false,10.000000,{price},{50_000_000 + n},"
                f"{1_300_000_000_000_000 + pair},{date}T{hh:02d}:{mm:02d}:{ss:02d}\n"
            )
            if len(lines) >= 10_000:
                out.writelines(lines)
                lines.clear()
        out.writelines(lines)
    return path.stat().st_size


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set (VmHWM), in MB."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def import_phases(log_path: Path, import_id: str) -> dict[str, float] | None:
    """Where the imports service's time went while it read the file (its "import read" log line)."""
    with contextlib.suppress(OSError):
        for line in log_path.read_text().splitlines():
            if '"import read"' in line and import_id in line:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    record = json.loads(line)
                    seconds: dict[str, float] = record.get("seconds") or record["fields"]["seconds"]
                    return seconds
    return None


async def run_import(
    gateway: str,
    path: Path,
    size: int,
    procs: dict[str, harness.ServiceProcess],
    overlapping: tuple[Path, int] | None = None,
) -> dict[str, Any]:
    """The import of ``path`` into a new account; then, if given, the ``overlapping`` file's
    import into the same account (its result under ``overlapping_import``)."""
    async with httpx.AsyncClient(base_url=gateway, timeout=httpx.Timeout(600.0)) as client:
        user = await harness.signup(client)
        headers = harness.auth(user["access_token"])
        created = await client.post("/api/v1/accounts", json={"name": "Bench"}, headers=headers)
        if created.status_code != 201:
            raise RuntimeError(f"account not created: {created.status_code} {created.text[:300]}")
        account_id = created.json()["id"]
        result = await follow_import(client, headers, account_id, path, size, procs)
        if overlapping is not None and result["status"] == "completed":
            say("importing the overlapping file into the same account")
            second_path, second_size = overlapping
            result["overlapping_import"] = await follow_import(
                client, headers, account_id, second_path, second_size, procs
            )
        return result


async def follow_import(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    account_id: str,
    path: Path,
    size: int,
    procs: dict[str, harness.ServiceProcess],
) -> dict[str, Any]:
    """Uploads the file and follows its import to the end: phases, counts, CPU seconds."""
    cpu_before = {name: proc_cpu(p.proc.pid) for name, p in procs.items() if p.proc is not None}
    cpu_before["postgres"] = postgres_cpu()
    say(f"uploading {size / 1e6:.1f} MB")
    started = time.monotonic()
    with path.open("rb") as fh:
        response = await client.post(
            "/api/v1/imports",
            files={"file": ("tradebook.csv", fh, "text/csv")},
            data={"account_id": account_id},
            headers=headers,
        )
    uploaded = time.monotonic() - started
    if response.status_code != 202:
        raise RuntimeError(f"upload refused: {response.status_code} {response.text[:300]}")
    import_id = response.json()["id"]
    say(f"upload answered 202 after {uploaded:.1f} s; import {import_id}")
    # Followed through its Server-Sent Events (one request; the gateway polls the imports
    # service every 0.5 s), so the measurement adds little load of its own.
    read_at = None
    last: dict[str, Any] = {}
    last_said = 0.0
    event = None
    async with client.stream("GET", f"/api/v1/imports/{import_id}/events", headers=headers) as stream:
        async for line in stream.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
                continue
            if not line.startswith("data: "):
                continue
            last = json.loads(line.removeprefix("data: "))
            now = time.monotonic() - started
            if read_at is None and last.get("status") in ("committing", "completed"):
                read_at = now
            if now - last_said >= 5:
                say(f"{last.get('status')}: {last.get('counts')}")
                last_said = now
            if event in ("completed", "failed", "cancelled"):
                break
    if event not in ("completed", "failed", "cancelled"):
        raise RuntimeError(f"the event stream ended before the import did: {last}")
    total = time.monotonic() - started
    cpu_after = {name: proc_cpu(p.proc.pid) for name, p in procs.items() if p.proc is not None}
    cpu_after["postgres"] = postgres_cpu()
    cpu = {
        name: round((cpu_after[name] or 0.0) - (cpu_before.get(name) or 0.0), 1)
        for name in cpu_after
        if cpu_after[name] is not None
    }
    return {
        "import_id": import_id,
        "status": last.get("status"),
        "error": last.get("error"),
        "counts": last.get("counts"),
        "format": last.get("format"),
        "seconds": {
            "upload_to_202": round(uploaded, 2),
            "upload_to_rows_read": round(read_at, 2) if read_at is not None else None,
            "upload_to_committed": round(total, 2),
        },
        "cpu_seconds": cpu,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.import_1m", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--overlap-rows",
        type=int,
        default=None,
        help="rows of a second file imported into the same account afterwards, half of them the "
        "first file's last fills (duplicates), half new (default: a fifth of --rows; 0 for none)",
    )
    parser.add_argument("--output-dir", default=str(RESULTS_DIR))
    opts = parser.parse_args(argv)
    started = datetime.now(UTC)
    run_id = secrets.token_hex(4)
    prefix = f"bench-{run_id}."
    os.environ["KAFKA_TOPIC_PREFIX"] = prefix  # read once by tj_common.topics: set first
    from tj_common.storage import ensure_bucket
    from tj_common.topics import ensure_topics
    from tj_gateway.settings import Settings as GatewaySettings
    from tj_imports.settings import Settings as ImportsSettings
    from tj_trades.settings import Settings as TradesSettings

    settings = TradesSettings(environment="development")
    partitions = settings.topic_partitions
    database = BenchDatabase(
        run_id,
        {
            "gateway": GatewaySettings(environment="development").database_url,
            "trades": settings.database_url,
            "imports": ImportsSettings(environment="development").database_url,
        },
    )
    for service, url in database.service_urls.items():
        os.environ[f"{service.upper()}_DATABASE_URL"] = url
    signal.signal(signal.SIGTERM, _raise_interrupt)
    ports = {name: harness.free_port() for name in ("gateway", "trades", "imports")}
    env = {
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "WARNING",
        "KAFKA_TOPIC_PREFIX": prefix,
        "TRADES_QUERY_URL": f"http://127.0.0.1:{ports['trades']}",
        "IMPORTS_QUERY_URL": f"http://127.0.0.1:{ports['imports']}",
        "BILLING_QUERY_URL": "http://127.0.0.1:9",  # no billing: every user is on the free plan
        "IMPORT_MAX_BYTES": str(256 * 1024 * 1024),
        "JWT_EXPIRES_IN": "2h",
    }
    procs = {name: harness.ServiceProcess(name, port, env) for name, port in ports.items()}
    folder = Path(tempfile.mkdtemp(prefix="tj-bench-import-"))
    path = folder / "tradebook.csv"
    overlap_rows = opts.rows // 5 if opts.overlap_rows is None else opts.overlap_rows
    overlap_path = folder / "tradebook-overlapping.csv"
    try:
        say(f"generating {opts.rows:,} rows")
        size = generate(path, opts.rows)
        overlapping = None
        # Even counts keep each buy/sell pair in one file.
        second_rows = overlap_rows // 2 * 2
        repeated = min(opts.rows, overlap_rows // 2) // 2 * 2
        if second_rows > 0:
            overlapping = (overlap_path, generate(overlap_path, second_rows, opts.rows - repeated))
        say(f"bench run {run_id}: topics {prefix}*, database {database.name}, {size / 1e6:.1f} MB file")
        run_async(database.create)
        database.migrate()
        run_async(lambda: ensure_topics(settings.kafka_bootstrap_servers, partitions, 1))
        ensure_bucket(settings)
        for proc in procs.values():
            # The imports service logs where its time went ("import read": read, publish, checkpoint).
            extra = {"LOG_LEVEL": "INFO"} if proc.name == "imports" else {}
            proc.start({"INSTANCE_ID": f"bench-{run_id}-{proc.name}", **extra})
        for proc in procs.values():
            proc.wait_healthy(timeout=90.0)
        say("services healthy")
        result = run_async(lambda: run_import(procs["gateway"].url, path, size, procs, overlapping))
        second = result.get("overlapping_import")
        if second is not None:
            # The overlapping file's fills already imported are duplicates; the others accepted.
            second["expected"] = {"duplicates": repeated, "accepted": second_rows - repeated}
            counts = second.get("counts") or {}
            second["counts_as_expected"] = second["status"] == "completed" and all(
                counts.get(k) == v for k, v in second["expected"].items()
            )
        rss = {name: peak_rss_mb(p.proc.pid) for name, p in procs.items() if p.proc is not None}
        result["imports_phases_s"] = import_phases(procs["imports"].log_path, result["import_id"])
        seconds = result["seconds"]["upload_to_committed"]
        imports_rss = rss.get("imports")
        report = {
            "benchmark": "import_1m",
            "started_at": started.isoformat(),
            "run_id": run_id,
            "rows": opts.rows,
            "file_bytes": size,
            "machine": machine_info(),
            "git": git_info(),
            "result": result,
            "peak_rss_mb": rss,
            "rows_per_second": round(opts.rows / seconds, 1) if seconds else None,
            "goals": {
                "upload_to_committed_s": {
                    "limit": GOAL_SECONDS,
                    "value": seconds,
                    "pass": result["status"] == "completed" and seconds <= GOAL_SECONDS,
                },
                **(
                    {}
                    if second is None
                    else {
                        "overlapping_import_counts": {
                            "limit": "duplicates and accepted as expected",
                            "value": second["counts"],
                            "pass": second["counts_as_expected"],
                        }
                    }
                ),
                "imports_peak_rss_mb": {
                    "limit": GOAL_IMPORTS_RSS_MB,
                    "value": imports_rss,
                    "pass": imports_rss is not None and imports_rss <= GOAL_IMPORTS_RSS_MB,
                },
            },
            "settings": {
                "environment": "development",
                "database": f"{database.name} (created for the run, dropped at the end)",
                "kafka_partitions": partitions,
                "import_max_bytes": env["IMPORT_MAX_BYTES"],
                "service_logs": {p.name: str(p.log_path) for p in procs.values()},
            },
        }
        out = write_report(report, Path(opts.output_dir), "import_1m")
        print(json.dumps({k: report[k] for k in ("result", "peak_rss_mb", "rows_per_second", "goals")}, indent=2))
        print(f"results: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
        if second is not None:
            print(f"overlapping import: {second['seconds']['upload_to_committed']} s upload to committed")
        for goal, verdict in report["goals"].items():
            print(f"goal {goal}: {'PASS' if verdict['pass'] else 'FAIL'} ({verdict['value']} of {verdict['limit']})")
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted; stopping the services", file=sys.stderr, flush=True)
        return 130
    except RuntimeError as exc:
        print(f"\nbench failed: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        teardown_run(list(procs.values()), settings, partitions, database)
        for leftover in (path, overlap_path):
            with contextlib.suppress(OSError):
                leftover.unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()


if __name__ == "__main__":
    sys.exit(main())
