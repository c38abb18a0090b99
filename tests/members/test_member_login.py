"""Member login by magic link, end to end through a real SMTP server: register -> the email
arrives with the link -> verify -> ``H/me`` answers. The link works once and for 15 minutes;
register never reveals whether a hub or an email is known.

The app under test sends through aiosmtpd with its own in-process worker (woken after commit), on a
database of its own; hubs and memberships are set up straight through the models.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa

from persistence.models import (
    Contact,
    EmailOutbox,
    Hub,
    HubEmailSender,
    HubMembership,
    MagicLinkToken,
    TeamContact,
)
from tests.support.api import assert_error, bearer
from tests.support.mailbox import AppDb, link_in, token_of, unique_email

pytest_plugins = ["tests.support.mailbox"]


async def register(client: Any, email: str, hub_id: Any, **extra: Any) -> Any:
    return await client.post("/api/v1/contact-auth/register", json={"email": email, "hub_id": str(hub_id), **extra})


async def login_link(client: Any, inbox: Any, email: str, hub_id: Any, count: int = 1, **extra: Any) -> str:
    r = await register(client, email, hub_id, **extra)
    assert r.status_code == 202, r.text
    assert r.json() == {"status": "accepted"}
    messages = await inbox.wait_for(email, count)
    return link_in(messages[count - 1])


async def verify(client: Any, token: str) -> Any:
    return await client.post("/api/v1/contact-auth/verify", json={"token": token})


def outbox_rows_to(db: AppDb, email: str) -> list[EmailOutbox]:
    async def q(s: Any) -> list[EmailOutbox]:
        return list((await s.scalars(sa.select(EmailOutbox).where(EmailOutbox.to_email == email))).all())

    return db.query(q)


def contact_by_email(db: AppDb, email: str) -> Contact | None:
    async def q(s: Any) -> Contact | None:
        return await s.scalar(sa.select(Contact).where(Contact.email == email))

    return db.query(q)


async def test_magic_link_round_trip_through_smtp(mail_client, smtp_server, mail_db):
    hub = mail_db.make_hub(name="Pottery Club", origins=["https://members.example.com"])
    email = unique_email("new")

    link = await login_link(mail_client, smtp_server.inbox, email, hub.id,
                            redirect_url="https://members.example.com/welcome?from=ad")

    [mail] = smtp_server.inbox.to(email)
    assert mail.message["Subject"] == "Your sign-in link for Pottery Club"
    assert mail.message["From"] == "Hubwire <no-reply@hubwire.example.test>"
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "members.example.com", "/welcome")
    assert parse_qs(parts.query)["from"] == ["ad"]
    token = token_of(link)
    async def stored_token(s: Any) -> MagicLinkToken | None:
        return await s.scalar(sa.select(MagicLinkToken).join(Contact, Contact.id == MagicLinkToken.contact_id)
                              .where(Contact.email == email))

    stored = mail_db.query(stored_token)  # only the hash is stored
    assert stored is not None and token not in (stored.token_hash, stored.redirect_url)
    assert stored.expires_at - stored.created_at == timedelta(minutes=15)
    [row] = outbox_rows_to(mail_db, email)
    assert (row.kind, row.idempotency_key, row.status) == ("magic_link", f"magic_link:{stored.id}", "sent")

    r = await verify(mail_client, token)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["contact"]["email"] == email and body["hub_id"] == str(hub.id)
    assert body["membership"]["status"] == "active" and body["membership"]["role"] == "member"
    me = await mail_client.get(f"/api/v1/hub/{hub.id}/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200, me.text
    attrs = me.json()["data"]["attributes"]
    assert attrs["email"] == email and attrs["contact_id"] == body["contact"]["id"]
    async def team_contact(s: Any) -> TeamContact | None:
        return await s.scalar(sa.select(TeamContact).where(TeamContact.team_id == hub.team_id,
                                                           TeamContact.contact_id == stored.contact_id))

    tc = mail_db.query(team_contact)
    assert tc is not None and tc.source == "magic_link"

    assert_error(await verify(mail_client, token), 401, "invalid_magic_link")  # single use
    assert_error(await verify(mail_client, "hw_ml_" + "x" * 43), 401, "invalid_magic_link")


async def test_the_default_link_points_at_the_hub_login_page_and_uses_the_hub_sender(mail_client, smtp_server, mail_db):
    hub = mail_db.make_hub(name="Book Circle")
    now = mail_db.services.clock.now()

    async def add_sender(s: Any) -> None:
        s.add(HubEmailSender(hub_id=hub.id, from_name="Ada from Book Circle", from_email="ada@books.example",
                             reply_to="help@books.example", updated_at=now))

    mail_db.query(add_sender)
    email = unique_email("default")

    link = await login_link(mail_client, smtp_server.inbox, email, hub.id)

    assert link.startswith(f"https://hubwire.example.test/hubs/{hub.slug}/login?token=hw_ml_")
    [mail] = smtp_server.inbox.to(email)
    assert mail.message["From"] == "Ada from Book Circle <ada@books.example>"
    assert mail.message["Reply-To"] == "help@books.example"
    assert mail.mail_from == "ada@books.example"


async def test_the_link_expires_after_fifteen_minutes(mail_client, smtp_server, mail_db, mail_clock):
    hub = mail_db.make_hub()
    email = unique_email("late")
    first = token_of(await login_link(mail_client, smtp_server.inbox, email, hub.id))
    second = token_of(await login_link(mail_client, smtp_server.inbox, email, hub.id, count=2))

    mail_clock.advance(minutes=14, seconds=59)
    assert (await verify(mail_client, second)).status_code == 200
    mail_clock.advance(seconds=1)
    assert_error(await verify(mail_client, first), 401, "magic_link_expired")


async def test_unknown_hubs_and_private_hubs_answer_202_and_send_nothing(mail_client, smtp_server, mail_db):
    private = mail_db.make_hub(is_private=True)
    deleted = mail_db.make_hub()
    mail_db.update(Hub, deleted.id, deleted_at=mail_db.services.clock.now())
    stranger, member, banned = unique_email("stranger"), unique_email("private"), unique_email("banned")
    mail_db.make_member(private, member)
    _, banned_membership = mail_db.make_member(private, banned, status="banned")
    unknown_hub = "01900000-0000-7000-8000-000000000000"

    for email, hub_id, extra in [(stranger, unknown_hub, {"redirect_url": "https://anything.example/x"}),
                                 (stranger, deleted.id, {"redirect_url": "https://anything.example/x"}),
                                 (stranger, private.id, {}), (banned, private.id, {})]:
        r = await register(mail_client, email, hub_id, **extra)
        assert r.status_code == 202, r.text
        assert r.json() == {"status": "accepted"}

    # the member of the private hub gets a link; by the time it arrives, nothing else is queued
    await login_link(mail_client, smtp_server.inbox, member, private.id)
    assert outbox_rows_to(mail_db, stranger) == [] and outbox_rows_to(mail_db, banned) == []
    assert smtp_server.inbox.to(stranger) == [] and smtp_server.inbox.to(banned) == []
    assert contact_by_email(mail_db, stranger) is None  # and no contact was made up for the stranger

    # an expired ban no longer blocks the link
    mail_db.update(HubMembership, banned_membership.id, status_expires_at=mail_db.services.clock.now() - timedelta(seconds=1))
    await login_link(mail_client, smtp_server.inbox, banned, private.id)


async def test_redirect_url_must_use_an_allowed_origin_of_an_existing_hub(mail_client, smtp_server, mail_db):
    hub = mail_db.make_hub(origins=["https://app.example.com", "http://localhost:3000"])
    email = unique_email("redirect")

    for bad in ["https://evil.example.com/cb", "http://app.example.com/cb", "https://app.example.com:8443/cb",
                "http://localhost:3001/"]:
        assert_error(await register(mail_client, email, hub.id, redirect_url=bad), 422, "redirect_not_allowed",
                     "/redirect_url")
    for malformed in ["javascript:alert(1)", "/relative/path", "https://user:pw@app.example.com/",
                      "https://app.example.com/#frag"]:
        assert_error(await register(mail_client, email, hub.id, redirect_url=malformed), 422,
                     "invalid_redirect_url", "/redirect_url")
    assert outbox_rows_to(mail_db, email) == []

    # an unknown hub reveals nothing, not even about the redirect
    r = await register(mail_client, email, "01900000-0000-7000-8000-000000000001",
                       redirect_url="https://evil.example.com/cb")
    assert r.status_code == 202

    # origins compare normalised: case and default ports do not matter
    link = await login_link(mail_client, smtp_server.inbox, email, hub.id,
                            redirect_url="https://App.Example.com:443/after-login")
    assert link.startswith("https://App.Example.com:443/after-login?token=")


async def test_malformed_register_and_verify_bodies_are_422(mail_client):
    hub_id = "01900000-0000-7000-8000-000000000002"
    assert_error(await mail_client.post("/api/v1/contact-auth/register", json={"hub_id": hub_id}),
                 422, "missing_field", "/email")
    assert_error(await register(mail_client, "not-an-email", hub_id), 422, "invalid_email", "/email")
    assert_error(await register(mail_client, unique_email(), "not-an-id"), 422, "invalid_value", "/hub_id")
    assert_error(await mail_client.post("/api/v1/contact-auth/register",
                                        json={"email": unique_email(), "hub_id": hub_id, "admin": True}),
                 422, "unknown_field", "/admin")
    assert_error(await mail_client.post("/api/v1/contact-auth/verify", json={}), 422, "missing_field", "/token")


async def test_register_is_rate_limited_per_email(mail_client, mail_db):
    email = unique_email("flood")
    hub_id = "01900000-0000-7000-8000-000000000003"
    limit = mail_db.services.settings.login_limit_per_email
    for _ in range(limit):
        assert (await register(mail_client, email, hub_id)).status_code == 202
    r = await register(mail_client, email.upper(), hub_id)
    assert_error(r, 429, "rate_limited")
    assert int(r.headers["retry-after"]) >= 1
    assert (await register(mail_client, unique_email("other"), hub_id)).status_code == 202


async def test_a_member_banned_after_the_link_was_sent_is_refused(mail_client, smtp_server, mail_db):
    hub = mail_db.make_hub()
    email = unique_email("tobebanned")
    _, membership = mail_db.make_member(hub, email)
    token = token_of(await login_link(mail_client, smtp_server.inbox, email, hub.id))

    mail_db.update(HubMembership, membership.id, status="banned", status_reason="spam")
    assert_error(await verify(mail_client, token), 403, "banned")


async def test_member_tokens_never_work_on_team_routes_and_staff_tokens_never_act_as_members(mail_client, smtp_server, mail_db):
    hub = mail_db.make_hub()
    email = unique_email("crossing")
    r = await verify(mail_client, token_of(await login_link(mail_client, smtp_server.inbox, email, hub.id)))
    member_token = r.json()["access_token"]

    for path in ["/api/v1/teams", f"/api/v1/teams/{hub.team_id}", f"/api/v1/teams/{hub.team_id}/members",
                 "/api/v1/auth/me"]:
        res = await mail_client.get(path, headers=bearer(member_token))
        assert res.status_code == 401, (path, res.text)

    staff = await mail_client.post("/api/v1/auth/register",
                                   json={"email": unique_email("staff"), "password": "correct horse battery staple"})
    assert staff.status_code == 201, staff.text
    assert_error(await mail_client.get(f"/api/v1/hub/{hub.id}/me", headers=bearer(staff.json()["access_token"])),
                 401, "member_token_required")
