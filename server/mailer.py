"""The email transport of one server process, chosen from the settings: SMTP when
``HUBWIRE_SMTP_HOST`` is set, else ``.eml`` files under ``<data dir>/outbox`` (the embedded default).
The worker that sends through it is registered in ``server/jobs.py``."""

from __future__ import annotations

from domain.email.transport import EmlFileTransport, SmtpTransport, Transport
from server.settings import Settings


def transport_for(settings: Settings) -> Transport:
    if settings.smtp_host:
        return SmtpTransport(settings.smtp_host, settings.smtp_port, username=settings.smtp_username,
                             password=settings.smtp_password, tls=settings.smtp_tls)
    return EmlFileTransport(settings.data_dir / "outbox")
