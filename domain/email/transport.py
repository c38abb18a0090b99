"""How a message leaves: SMTP (aiosmtplib) or, in the embedded default, an ``.eml`` file.

A transport either returns (the message was accepted) or raises ``TransientSendError`` (try again
later: SMTP 4xx, connection refused, timeouts) or ``PermanentSendError`` (SMTP 5xx: retrying the
same message will not help).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import aiosmtplib


class SendError(Exception):
    """The message was not accepted."""


class TransientSendError(SendError):
    """Not accepted now; the same message may be accepted later."""


class PermanentSendError(SendError):
    """Refused for good (SMTP 5xx)."""


@dataclass(frozen=True)
class OutgoingEmail:
    idempotency_key: str
    from_email: str
    to_email: str
    subject: str
    text_body: str
    html_body: str | None = None
    reply_to: str | None = None
    created_at: datetime | None = None


def message_id(idempotency_key: str, from_email: str) -> str:
    """The Message-ID for a key: the same key always yields the same id, so a message sent again
    after a crash carries the id of its first copy (receivers and threads can tell them apart)."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
    domain = parseaddr(from_email)[1].rpartition("@")[2].strip().lower()
    if not re.fullmatch(r"[a-z0-9](?:[a-z0-9.-]{0,250}[a-z0-9])?", domain or ""):
        domain = "hubwire.invalid"
    return f"<{digest}@{domain}>"


def build_message(email: OutgoingEmail) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = email.from_email
    msg["To"] = email.to_email
    if email.reply_to:
        msg["Reply-To"] = email.reply_to
    msg["Subject"] = email.subject
    msg["Message-ID"] = message_id(email.idempotency_key, email.from_email)
    if email.created_at is not None:
        msg["Date"] = format_datetime(email.created_at)
    msg["X-Hubwire-Idempotency-Key"] = email.idempotency_key
    msg.set_content(email.text_body, cte=body_encoding(email.text_body))
    if email.html_body:
        msg.add_alternative(email.html_body, subtype="html", cte=body_encoding(email.html_body))
    return msg


# The longest line SMTP carries untouched (RFC 5321 4.5.3.1.6: 1000 octets with the CRLF).
MAX_LINE_OCTETS = 998


def body_encoding(text: str) -> str | None:
    """How a text part travels: ``7bit`` when it is ASCII, ``8bit`` when it is other UTF-8, as
    long as every line fits in SMTP's 998 octets; then a link in it (a magic link) stays whole on
    its own line, readable in the raw message and the ``.eml`` file, with no quoted-printable soft
    line break or ``=3D`` inside the URL. Longer lines: None, the email library's choice
    (quoted-printable or base64). An SMTP server without 8BITMIME gets ``8bit`` parts re-encoded
    by aiosmtplib, so nothing 8-bit reaches a server that did not offer it."""
    lines = text.splitlines()
    if any(len(line.encode()) > MAX_LINE_OCTETS for line in lines):
        return None
    return "7bit" if text.isascii() else "8bit"


class Transport(Protocol):
    async def send(self, email: OutgoingEmail) -> None: ...


class SmtpTransport:
    """Sends through an SMTP server. ``tls``: ``none`` (plain), ``starttls`` (upgrade after
    connecting, required), ``tls`` (implicit TLS, usually port 465)."""

    def __init__(self, host: str, port: int, *, username: str | None = None, password: str | None = None,
                 tls: str = "starttls", timeout: float = 30.0) -> None:
        if tls not in {"none", "starttls", "tls"}:
            raise ValueError("tls must be none, starttls or tls")
        self.host, self.port, self.tls, self.timeout = host, port, tls, timeout
        self._username, self._password = username, password

    async def send(self, email: OutgoingEmail) -> None:
        msg = build_message(email)
        try:
            await aiosmtplib.send(
                msg,
                sender=parseaddr(email.from_email)[1] or email.from_email,
                recipients=[parseaddr(email.to_email)[1] or email.to_email],
                hostname=self.host, port=self.port, username=self._username, password=self._password,
                use_tls=self.tls == "tls", start_tls=self.tls == "starttls",  # False: never upgrade on its own
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            raise _by_code(min(codes) if codes else 550, f"recipient refused: {detail}") from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            # Our credentials were refused: a configuration fault, not this message's. Retrying
            # lets the backlog go out once the credentials are fixed.
            raise TransientSendError(f"authentication failed: {exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected,
                aiosmtplib.SMTPTimeoutError, aiosmtplib.SMTPConnectTimeoutError,
                aiosmtplib.SMTPReadTimeoutError) as exc:
            raise TransientSendError(f"connection failed: {exc}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _by_code(exc.code, f"{exc.code} {exc.message}") from exc
        except aiosmtplib.SMTPException as exc:  # e.g. STARTTLS not offered: fix the config, retry
            raise TransientSendError(str(exc)) from exc
        except (TimeoutError, OSError) as exc:
            raise TransientSendError(f"connection failed: {exc}") from exc


def _by_code(code: int, detail: str) -> SendError:
    if 500 <= code < 600:
        return PermanentSendError(detail)
    return TransientSendError(detail)  # 4xx, and anything unexpected, is worth another try


class EmlFileTransport:
    """The embedded default: each message becomes ``<directory>/<key>.eml`` (the idempotency key
    made filename-safe). Writing the same key again replaces the file atomically, so a resend never
    leaves a duplicate or a half-written file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, idempotency_key: str) -> Path:
        return self.directory / (safe_filename(idempotency_key) + ".eml")

    async def send(self, email: OutgoingEmail) -> None:
        data = build_message(email).as_bytes()
        try:
            await asyncio.to_thread(self._write, self.path_for(email.idempotency_key), data)
        except OSError as exc:
            raise TransientSendError(f"could not write the .eml file: {exc}") from exc

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def safe_filename(key: str) -> str:
    """``magic_link:0190...`` -> ``magic_link%3A0190...``: reversible, so two keys never share a
    file; very long names are shortened with a hash of the whole key."""
    name = quote(key, safe="-_.")
    if name.startswith("."):
        name = "%2E" + name[1:]
    if len(name) > 180:
        name = name[:116] + "-" + hashlib.sha256(key.encode()).hexdigest()
    return name
