"""A local SMTP mail sink: accepts every message and stores it in a Maildir, so development and
tests can read what the gateway "sent" (password resets). Nothing is ever relayed.

    uv run python deploy/local/mailsink.py                 # 127.0.0.1:8025 → .local/mail
    uv run python deploy/local/mailsink.py --port 2525 --maildir /tmp/mail

``make dev`` starts it (Procfile); tests start it in-process with :func:`start`.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import mailbox
import signal
import threading
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MAILDIR = ROOT / ".local" / "mail"
DEFAULT_PORT = 8025


class MaildirHandler:
    def __init__(self, maildir: Path) -> None:
        for sub in ("cur", "new", "tmp"):  # Maildir() creates them only for a missing directory
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        self.box = mailbox.Maildir(maildir, create=True)
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd calls handle_<COMMAND>
        content = envelope.original_content or envelope.content
        with self.lock:
            self.box.add(mailbox.MaildirMessage(content))
        return "250 Message accepted for delivery"


def start(maildir: Path = DEFAULT_MAILDIR, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> Controller:
    """The sink, running in a background thread; ``.stop()`` it when done."""
    controller = Controller(MaildirHandler(maildir), hostname=host, port=port)
    controller.start()
    return controller


def messages(maildir: Path = DEFAULT_MAILDIR, to: str | None = None) -> list[EmailMessage]:
    """Every stored message (oldest first), or those addressed to ``to``."""
    if not (maildir / "new").exists():
        return []
    box = mailbox.Maildir(maildir, create=False)
    found = []
    for key in sorted(box.keys(), key=lambda k: box.get_message(k).get_date()):
        raw = box.get_bytes(key)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if to is None or to.lower() in str(message["To"]).lower():
            found.append(message)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description="Local SMTP sink storing messages in a Maildir")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--maildir", type=Path, default=DEFAULT_MAILDIR)
    args = parser.parse_args()
    controller = start(args.maildir, args.host, args.port)
    print(f"mail sink on {args.host}:{args.port}, storing in {args.maildir}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
