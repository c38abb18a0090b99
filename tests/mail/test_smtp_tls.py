"""SMTP as production sends it: STARTTLS (the default, ``HUBWIRE_SMTP_TLS=starttls``) with SMTP
AUTH, against aiosmtpd with a self-signed certificate made by the test (trusted through
``SSL_CERT_FILE``, as an operator trusts a private CA). A server that does not offer STARTTLS is
not sent to in the clear; wrong credentials are a transient failure (the backlog goes out once
the configuration is fixed)."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from domain.email.transport import OutgoingEmail, SmtpTransport, TransientSendError
from tests.support.mailbox import free_port

USER, PASSWORD = "hubwire", "s3cret-smtp-password"


@dataclass
class Recorder:
    """Keeps each accepted message with what the session looked like: TLS or not, who logged in."""

    got: list[dict[str, Any]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        msg = message_from_bytes(envelope.original_content or envelope.content, policy=default_policy)
        login = session.auth_data.decode() if isinstance(session.auth_data, bytes) else None
        self.got.append({"tls": session.ssl is not None, "login": login, "subject": msg["Subject"],
                         "to": list(envelope.rcpt_tos)})
        return "250 2.0.0 Message accepted"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == \
        (USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl, made now)."""
    d = tmp_path_factory.mktemp("smtp-tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def serve(recorder: Recorder, certificate: tuple[Path, Path] | None, **smtp: Any) -> tuple[Controller, int]:
    port = free_port()
    kwargs: dict[str, Any] = dict(smtp)
    if certificate is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(certificate[0]), str(certificate[1]))
        kwargs["tls_context"] = context
    controller = Controller(recorder, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller, port


@pytest.fixture
def trusted(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    yield


def email(key: str) -> OutgoingEmail:
    return OutgoingEmail(idempotency_key=key, from_email="Hubwire <no-reply@hubwire.example.test>",
                         to_email="member@example.test", subject=f"Subject {key}", text_body="Hello")


async def test_starttls_with_auth_delivers_over_tls_as_the_configured_user(certificate, trusted) -> None:
    recorder = Recorder()
    controller, port = serve(recorder, certificate, require_starttls=True, auth_required=True,
                             auth_require_tls=True, authenticator=authenticator)
    try:
        transport = SmtpTransport("127.0.0.1", port, username=USER, password=PASSWORD, timeout=10)
        assert transport.tls == "starttls"  # the default
        await transport.send(email("tls-1"))
    finally:
        await asyncio.to_thread(controller.stop)
    assert recorder.got == [{"tls": True, "login": USER, "subject": "Subject tls-1", "to": ["member@example.test"]}]


async def test_wrong_smtp_credentials_are_a_transient_failure(certificate, trusted) -> None:
    recorder = Recorder()
    controller, port = serve(recorder, certificate, require_starttls=True, auth_required=True,
                             auth_require_tls=True, authenticator=authenticator)
    try:
        transport = SmtpTransport("127.0.0.1", port, username=USER, password="wrong", timeout=10)
        with pytest.raises(TransientSendError, match="authentication failed"):
            await transport.send(email("tls-2"))
    finally:
        await asyncio.to_thread(controller.stop)
    assert recorder.got == []


async def test_no_starttls_offered_means_nothing_is_sent_in_the_clear() -> None:
    recorder = Recorder()
    controller, port = serve(recorder, None)  # a plain server: no STARTTLS in its EHLO
    try:
        with pytest.raises(TransientSendError, match="(?i)starttls"):
            await SmtpTransport("127.0.0.1", port, username=USER, password=PASSWORD, timeout=10).send(email("tls-3"))
    finally:
        await asyncio.to_thread(controller.stop)
    assert recorder.got == []


async def test_an_untrusted_certificate_is_refused(certificate) -> None:
    recorder = Recorder()
    controller, port = serve(recorder, certificate, require_starttls=True)
    try:  # the self-signed certificate is not trusted here (no SSL_CERT_FILE)
        with pytest.raises(TransientSendError, match="(?i)certificate"):
            await SmtpTransport("127.0.0.1", port, timeout=10).send(email("tls-4"))
    finally:
        await asyncio.to_thread(controller.stop)
    assert recorder.got == []
