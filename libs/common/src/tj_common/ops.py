"""Operator commands: ``python -m tj_common.ops <command>`` (used by the Makefile).

bootstrap            create the declared Kafka topics and the S3 bucket
migrate [--service]  apply pending migrations (all services by default)
rollback --service --steps N
reset [--service]    drop everything of a service's schema and re-apply its migrations
revision --service -m MSG
dlq-list TOPIC       list the dead letters of TOPIC (e.g. trades.commands)
dlq-redrive TOPIC    send TOPIC's dead letters back to TOPIC
wait-health URL...   wait until each URL answers 200
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import httpx

from tj_common import migrations
from tj_common.deadletters import list_dead_letters, redrive
from tj_common.settings import ServiceSettings
from tj_common.storage import ensure_bucket
from tj_common.topics import Topic, ensure_topics


def _targets(service: str | None) -> tuple[str, ...]:
    return (service,) if service else migrations.SERVICES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tj-ops", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("bootstrap")
    p = sub.add_parser("migrate")
    p.add_argument("--service", choices=migrations.SERVICES)
    p.add_argument("--revision", default="head")
    p = sub.add_parser("rollback")
    p.add_argument("--service", choices=migrations.SERVICES, required=True)
    p.add_argument("--steps", type=int, default=1)
    p = sub.add_parser("reset")
    p.add_argument("--service", choices=migrations.SERVICES)
    p = sub.add_parser("revision")
    p.add_argument("--service", choices=migrations.SERVICES, required=True)
    p.add_argument("-m", "--message", required=True)
    for name in ("dlq-list", "dlq-redrive"):
        p = sub.add_parser(name)
        p.add_argument("topic", help="the topic whose dead letters to handle, e.g. trades.commands")
    p = sub.add_parser("wait-health")
    p.add_argument("urls", nargs="+")
    p.add_argument("--timeout", type=float, default=90.0)
    args = parser.parse_args(argv)

    if args.command == "bootstrap":
        settings = ServiceSettings()
        created = asyncio.run(
            ensure_topics(
                settings.kafka_bootstrap_servers,
                settings.topic_partitions,
                settings.topic_retention_hours,
                settings.topic_replication_factor,
            )
        )
        print(f"topics created: {', '.join(created) or 'none (all present)'}")
        print(f"bucket {settings.s3_bucket}: {'created' if ensure_bucket(settings) else 'present'}")
    elif args.command == "migrate":
        for service in _targets(args.service):
            migrations.upgrade(service, args.revision)
            print(f"{service}: migrated to {args.revision}")
    elif args.command == "rollback":
        migrations.downgrade(args.service, f"-{args.steps}")
        print(f"{args.service}: rolled back {args.steps} step(s)")
    elif args.command == "reset":
        for service in _targets(args.service):
            migrations.downgrade(service, "base")
            migrations.upgrade(service, "head")
            print(f"{service}: reset")
    elif args.command == "revision":
        migrations.revision(args.service, args.message)
    elif args.command == "dlq-list":
        settings = ServiceSettings()
        letters = asyncio.run(list_dead_letters(settings.kafka_bootstrap_servers, Topic(args.topic).dlq))
        for letter in letters:
            print(f"{letter.partition}:{letter.offset}\tkey={letter.key!r}\t{letter.size}B\t{letter.error}")
        print(f"{len(letters)} dead letter(s)")
    elif args.command == "dlq-redrive":
        settings = ServiceSettings()
        moved = asyncio.run(redrive(settings.kafka_bootstrap_servers, Topic(args.topic).dlq))
        print(f"redriven: {moved}")
    elif args.command == "wait-health":
        return wait_health(args.urls, args.timeout)
    return 0


def wait_health(urls: list[str], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    pending = list(urls)
    while pending and time.monotonic() < deadline:
        for url in list(pending):
            try:
                if httpx.get(url, timeout=2.0).status_code == 200:
                    pending.remove(url)
            except httpx.HTTPError:
                pass
        if pending:
            time.sleep(0.5)
    for url in pending:
        print(f"not healthy after {timeout:.0f}s: {url}", file=sys.stderr)
    return 1 if pending else 0


if __name__ == "__main__":
    sys.exit(main())
