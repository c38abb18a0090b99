"""The email transport and worker for one server process, chosen from the settings: SMTP when
``HUBWIRE_SMTP_HOST`` is set, else ``.eml`` files under ``<data dir>/outbox`` (the embedded default)."""

from __future__ import annotations

from domain.email.transport import EmlFileTransport, SmtpTransport, Transport
from domain.email.worker import EmailWorker
from server.services import Services
from server.settings import Settings


def transport_for(settings: Settings) -> Transport:
    if settings.smtp_host:
        return SmtpTransport(settings.smtp_host, settings.smtp_port, username=settings.smtp_username,
                             password=settings.smtp_password, tls=settings.smtp_tls)
    return EmlFileTransport(settings.data_dir / "outbox")


def email_worker_for(services: Services) -> EmailWorker:
    return EmailWorker(services.sessions, transport_for(services.settings), services.clock,
                       default_from=services.settings.mail_from, broker=services.broker)
