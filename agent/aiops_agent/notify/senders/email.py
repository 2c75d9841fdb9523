"""E-mail over SMTP (smtplib, imported on first delivery), with STARTTLS or implicit TLS and
authentication. The Message-ID is derived from the idempotency key, so a re-delivered mail is
recognisably the same message."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aiops_agent.config.notify_schema import EmailReceiver
from aiops_agent.notify.grouping import Notification
from aiops_agent.notify.outcome import ACCEPTED, Outcome, dead, retry
from aiops_agent.notify.senders import Context, Sender
from aiops_agent.notify.senders.text import group_body_lines, group_title

if TYPE_CHECKING:
    from email.message import EmailMessage

IDEMPOTENCY_HEADER = "X-Aiops-Idempotency-Key"


def message(notification: Notification, settings: EmailReceiver, context: Context) -> EmailMessage:
    """One mail per group of alerts."""
    from email.message import EmailMessage  # noqa: PLC0415 - only e-mail receivers need it
    from email.utils import formatdate  # noqa: PLC0415

    mail = EmailMessage()
    key = notification.idempotency_key()
    mail["Subject"] = group_title(notification, context.hostname)
    mail["From"] = settings.from_address
    mail["To"] = ", ".join(settings.to)
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = f"<{key}@{context.hostname or 'aiops-agent'}>"
    mail[IDEMPOTENCY_HEADER] = key
    mail["X-Aiops-Fingerprint"] = ", ".join(event.fingerprint for event in notification.alerts)
    if notification.group:
        mail["X-Aiops-Group"] = notification.group
    lines = group_body_lines(notification, context.hostname)
    mail.set_content("\n".join(lines) + f"\n\n-- \naiops-agent on {context.hostname}\n")
    return mail


class EmailSender(Sender):
    def __init__(self, settings: EmailReceiver, context: Context) -> None:
        self._settings = settings
        self._context = context
        host, _, port = settings.smarthost.rpartition(":")
        self._host, self._port = host.strip("[]"), int(port)

    groups = True

    def send(self, notifications: Sequence[Notification]) -> Outcome:
        import smtplib  # noqa: PLC0415 - only e-mail receivers need it

        (notification,) = notifications
        try:
            with self._connect() as client:
                refused = client.send_message(message(notification, self._settings, self._context))
        except smtplib.SMTPNotSupportedError:
            return dead("the server does not offer STARTTLS or AUTH as configured")
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            return _by_code(min(codes) if codes else 550, "recipients refused")
        except smtplib.SMTPResponseException as error:
            return _by_code(error.smtp_code, "SMTP")
        except (smtplib.SMTPException, OSError) as error:  # includes timeouts and TLS errors
            kind = "timeout" if isinstance(error, socket.timeout) else type(error).__name__
            return retry(kind)
        # Some recipients may have been refused (`refused` lists them) while others took the
        # mail: a retry would mail those again, so partial acceptance counts as delivered.
        del refused
        return ACCEPTED

    def _connect(self) -> Any:
        import smtplib  # noqa: PLC0415
        import ssl  # noqa: PLC0415

        settings = self._settings
        context = ssl.create_default_context(cafile=settings.ca_file or None)
        client: smtplib.SMTP
        if settings.tls == "tls":
            client = smtplib.SMTP_SSL(
                self._host, self._port, timeout=settings.timeout, context=context
            )
        else:
            client = smtplib.SMTP(self._host, self._port, timeout=settings.timeout)
        try:
            client.ehlo()
            if settings.tls == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if settings.username:
                client.login(settings.username, settings.password.reveal())
        except BaseException:
            client.close()
            raise
        return client


def _by_code(code: int, what: str) -> Outcome:
    """SMTP's own rule: 4yz replies are transient, 5yz permanent."""
    reason = f"{what} {code}"
    return dead(reason) if code >= 500 else retry(reason)
