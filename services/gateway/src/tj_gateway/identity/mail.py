"""Outgoing mail over SMTP (``SMTP_*`` settings); locally the mail sink of ``make dev``.

Sent from a thread (smtplib blocks), after the answer has gone out, so neither the answer's
content nor its timing tells whether an account exists."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage

from tj_common.settings import ServiceSettings

log = logging.getLogger(__name__)


def _send(settings: ServiceSettings, message: EmailMessage) -> None:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        smtp.send_message(message)


async def send_mail(settings: ServiceSettings, to: str, subject: str, body: str) -> bool:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    try:
        await asyncio.to_thread(_send, settings, message)
    except (OSError, smtplib.SMTPException) as exc:
        log.error("mail not sent", extra={"fields": {"subject": subject, "error": type(exc).__name__}})
        return False
    return True


def password_reset_mail(settings: ServiceSettings, token: str) -> tuple[str, str]:
    minutes = settings.password_reset_expires_in // 60
    link = f"{settings.password_reset_url}?token={token}"
    body = (
        "Someone (hopefully you) asked to reset the password of your Trading Journal account.\n\n"
        f"Open this link within {minutes} minutes to choose a new one:\n\n{link}\n\n"
        f"Or send this token to POST /api/v1/auth/password-reset/confirm:\n\n{token}\n\n"
        "If you did not ask, ignore this message; your password stays as it is.\n"
    )
    return "Reset your Trading Journal password", body
