"""A magic link survives the trip: in the raw message (as the SMTP server receives it, and as the
embedded default's ``.eml`` file holds it) the link stands whole on a line of its own, with no
quoted-printable soft line break or ``=3D`` inside it, so it can be copied straight out of the
raw source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

pytest.register_assert_rewrite("tests.mailbox")

from domain.email.transport import EmlFileTransport, OutgoingEmail, body_encoding, build_message
from persistence.models import EmailOutbox
from tests.support.mailbox import AppDb, link_in, unique_email

pytest_plugins = ["tests.support.mailbox"]


async def request_link(client: Any, inbox: Any, email: str, hub_id: Any) -> tuple[Any, str]:
    r = await client.post("/api/v1/contact-auth/register", json={"email": email, "hub_id": str(hub_id)})
    assert r.status_code == 202, r.text
    [mail] = await inbox.wait_for(email)
    return mail, link_in(mail)


def raw_lines(data: bytes) -> list[bytes]:
    return data.replace(b"\r\n", b"\n").split(b"\n")


async def test_over_smtp_the_link_is_one_unbroken_line_of_7bit_text(mail_client, smtp_server, mail_db):
    hub = mail_db.make_hub(name="Pottery Club")
    mail, link = await request_link(mail_client, smtp_server.inbox, unique_email("raw"), hub.id)

    text = mail.message.get_body(preferencelist=("plain",))
    assert text["Content-Transfer-Encoding"] == "7bit"
    raw = text.get_payload()  # the body as it travelled, not decoded
    assert link in raw.splitlines(), raw
    assert "=3D" not in raw and "=\n" not in raw, raw

    html = mail.message.get_body(preferencelist=("html",))
    assert html["Content-Transfer-Encoding"] == "7bit"
    assert f'<a href="{link}">' in html.get_payload()


def outbox_row(db: AppDb, email: str) -> EmailOutbox:
    async def q(s: Any) -> EmailOutbox:
        return (await s.scalars(sa.select(EmailOutbox).where(EmailOutbox.to_email == email))).one()

    return db.query(q)


async def as_eml(row: EmailOutbox, directory: Path) -> bytes:
    """The message as the embedded default writes it (``<data dir>/outbox/<key>.eml``)."""
    transport = EmlFileTransport(directory)
    email = OutgoingEmail(idempotency_key=row.idempotency_key, from_email=row.from_email or "Hubwire <a@b.c>",
                          to_email=row.to_email, subject=row.subject, text_body=row.text_body,
                          html_body=row.html_body, reply_to=row.reply_to, created_at=row.created_at)
    await transport.send(email)
    return transport.path_for(row.idempotency_key).read_bytes()


@pytest.mark.parametrize("hub_name", ["Pottery Club", "Café Crème"])
async def test_in_the_eml_file_the_link_is_a_line_of_its_own(mail_client, smtp_server, mail_db, tmp_path, hub_name):
    hub = mail_db.make_hub(name=hub_name)
    email = unique_email("eml")
    _, link = await request_link(mail_client, smtp_server.inbox, email, hub.id)

    data = await as_eml(outbox_row(mail_db, email), tmp_path)
    assert link.encode() in raw_lines(data), data.decode(errors="replace")
    assert b"quoted-printable" not in data and b"base64" not in data, data.decode(errors="replace")
    # A hub name outside ASCII travels as UTF-8 text (8bit), still readable in the file.
    assert hub_name.encode() in data


def test_body_encoding_keeps_text_readable_and_falls_back_for_overlong_lines() -> None:
    assert body_encoding("Sign in\nhttps://example.com/login?token=hw_ml_x\n") == "7bit"
    assert body_encoding("Café\nhttps://example.com/login?token=hw_ml_x\n") == "8bit"
    long_link = "https://example.com/" + "a" * 1000
    assert body_encoding(f"Sign in\n{long_link}\n") is None  # past SMTP's 998 octets: library's choice
    msg = build_message(OutgoingEmail("k", "a@b.c", "x@y.z", "s", f"Sign in\n{long_link}\n"))
    assert msg.get_body(preferencelist=("plain",)).get_content() == f"Sign in\n{long_link}\n"
