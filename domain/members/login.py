"""Member login by magic link: a contact asks for a link to one hub, receives it by email, and
exchanges the one-time token in it for a member token.

Asking never tells the caller whether the hub or the email is known: the answer is the same
whether a link was sent or not. The one thing it does reveal is that a ``redirect_url``'s origin is
not allowed for an existing hub (a caller has to be told why a link will never arrive there).
"""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import formataddr, parseaddr
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa

from domain.context import Ctx
from domain.crm.contacts import ensure_contact, ensure_team_contact
from domain.email.outbox import enqueue_email
from domain.errors import Forbidden, Unauthenticated, ValidationFailed
from domain.hubs.memberships import ensure_membership
from domain.identity.members import effective_status, issue_member_token
from domain.identity.tokens import TokenService, random_secret, sha256_hex
from domain.identity.validation import normalize_email
from persistence.ids import new_id
from persistence.models import (
    Contact,
    Hub,
    HubEmailSender,
    HubMembership,
    MagicLinkToken,
)

MAGIC_LINK_TTL = timedelta(minutes=15)
TOKEN_PREFIX = "hw_ml_"
MAX_REDIRECT_URL = 2000


@dataclass(frozen=True)
class MemberLogin:
    access_token: str
    expires_at: datetime
    contact: Contact
    hub: Hub
    membership: HubMembership


def origin_of(url: str) -> str | None:
    """``https://Example.com:443/x`` -> ``https://example.com``; None when ``url`` is not an
    absolute http(s) URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname.lower()
    if port is None or (scheme, port) in {("http", 80), ("https", 443)}:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def check_redirect_url(url: str | None) -> str | None:
    """A well-formed absolute http(s) URL without credentials or a fragment, or 422."""
    if url is None:
        return None
    if len(url) > MAX_REDIRECT_URL or origin_of(url) is None:
        raise ValidationFailed("redirect_url must be an absolute http(s) URL.", code="invalid_redirect_url",
                               field="redirect_url")
    parts = urlsplit(url.strip())
    if parts.username or parts.password or parts.fragment:
        raise ValidationFailed("redirect_url may not carry credentials or a #fragment.",
                               code="invalid_redirect_url", field="redirect_url")
    return url.strip()


def with_token(url: str, token: str) -> str:
    """``url`` with ``token=<token>`` added to its query (replacing any ``token`` already there)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "token"]
    query.append(("token", token))
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), ""))


async def request_magic_link(ctx: Ctx, *, email: str, hub_id: uuid.UUID, redirect_url: str | None,
                             public_url: str, mail_from: str) -> bool:
    """Email a sign-in link for ``hub_id`` to ``email`` when allowed; say nothing either way. The
    link points at ``public_url`` unless a ``redirect_url`` is given; the email is from ``mail_from``
    unless the hub has its own sender.

    Nothing is sent when the hub does not exist (or was deleted), when the hub is private and the
    email has no membership (or left it), or when the member is banned. Otherwise a single-use
    token valid for 15 minutes is stored (as its SHA-256 only) and an email with the link is
    queued in this transaction. The global contact is created when new (the token refers to it);
    the team contact and membership are created only when the link is used.

    Raises ``redirect_not_allowed`` (422) when the hub exists and ``redirect_url``'s origin is not
    among its allowed origins. Returns whether an email was queued (for logs and tests only; the
    route never shows it).
    """
    email = normalize_email(email)
    redirect_url = check_redirect_url(redirect_url)
    uow = ctx.uow
    s = uow.session
    hub = await s.get(Hub, hub_id)
    if hub is None or hub.deleted_at is not None:
        return False
    if redirect_url is not None:
        allowed = {o for o in (origin_of(x) for x in (hub.allowed_redirect_origins or [])) if o}
        if origin_of(redirect_url) not in allowed:
            raise ValidationFailed("This hub does not allow sign-in links to redirect to that origin.",
                                   code="redirect_not_allowed", field="redirect_url")
    now = ctx.now()
    contact = await s.scalar(sa.select(Contact).where(Contact.email == email))
    membership = None
    if contact is not None:
        membership = await s.scalar(sa.select(HubMembership).where(
            HubMembership.hub_id == hub.id, HubMembership.contact_id == contact.id))
    if membership is not None and effective_status(membership, now) == "banned":
        return False
    if hub.is_private and (membership is None or membership.status == "left"):
        return False
    if contact is None:
        contact = await ensure_contact(uow, now, email)

    secret = random_secret(TOKEN_PREFIX)
    token = MagicLinkToken(id=new_id(), contact_id=contact.id, hub_id=hub.id, token_hash=sha256_hex(secret),
                           redirect_url=redirect_url, created_at=now, expires_at=now + MAGIC_LINK_TTL)
    s.add(token)
    await s.flush()

    link = with_token(redirect_url or f"{public_url.rstrip('/')}/hubs/{hub.slug}/login", secret)
    sender = await s.get(HubEmailSender, hub.id)
    from_email, reply_to = _sender(sender, hub, mail_from)
    minutes = int(MAGIC_LINK_TTL.total_seconds() // 60)
    text = (f"Sign in to {hub.name}\n\n"
            f"Open this link to sign in:\n{link}\n\n"
            f"The link works once and expires in {minutes} minutes.\n"
            f"If you did not ask for it, ignore this email.\n")
    # The link stands on a line of its own in both parts, and the parts travel as 7bit/8bit text
    # (domain.email.transport.body_encoding): no soft line break ever cuts it in the raw message.
    body_html = (f"<p>Sign in to {html.escape(hub.name)}</p>\n"
                 f'<p><a href="{html.escape(link, quote=True)}">Sign in</a></p>\n'
                 f"<p>The link works once and expires in {minutes} minutes.\n"
                 f"If you did not ask for it, ignore this email.</p>\n")
    await enqueue_email(
        uow, now, idempotency_key=f"magic_link:{token.id}", kind="magic_link", to_email=email,
        subject=f"Your sign-in link for {hub.name}", text_body=text, html_body=body_html,
        team_id=hub.team_id, hub_id=hub.id, from_email=from_email, reply_to=reply_to,
    )
    return True


def _sender(sender: HubEmailSender | None, hub: Hub, mail_from: str) -> tuple[str, str | None]:
    """The hub's sender settings over the server default: a hub may set its own name, address and
    reply-to; an address alone keeps the server's address (no From spoofing by configuration)."""
    if sender is None:
        return mail_from, None
    default_name, default_addr = parseaddr(mail_from)
    address = sender.from_email or default_addr
    name = sender.from_name or (hub.name if sender.from_email else default_name)
    return formataddr((name, address)) if name else address, sender.reply_to


async def verify_magic_link(ctx: Ctx, token: str, *, tokens: TokenService) -> MemberLogin:
    """Use a magic-link token once, for a member token issued by ``tokens``: 401
    ``invalid_magic_link`` for an unknown or used token (or a deleted hub), 401 ``magic_link_expired``
    after 15 minutes, 403 ``banned`` for a banned member, 403 ``not_a_member`` for a private hub the
    contact no longer belongs to.

    The token is consumed by one conditional UPDATE, so two concurrent uses cannot both succeed.
    On first use the team contact (source ``magic_link``) and the hub membership are created.
    A refusal rolls the whole transaction back, consumption included.
    """
    uow = ctx.uow
    s = uow.session
    now = ctx.now()
    token_hash = sha256_hex(token)
    t = MagicLinkToken
    consumed = await s.execute(
        sa.update(t).where(t.token_hash == token_hash, t.used_at.is_(None), t.expires_at > now).values(used_at=now)
    )
    row = await s.scalar(sa.select(t).where(t.token_hash == token_hash).execution_options(populate_existing=True))
    if consumed.rowcount != 1 or row is None:  # type: ignore[attr-defined]
        if row is not None and row.used_at is None and row.expires_at <= now:
            raise Unauthenticated("This sign-in link has expired; ask for a new one.", code="magic_link_expired")
        raise Unauthenticated("This sign-in link is not valid (it may have been used already).",
                              code="invalid_magic_link")
    hub = await s.get(Hub, row.hub_id)
    contact = await s.get(Contact, row.contact_id)
    if hub is None or hub.deleted_at is not None or contact is None:
        raise Unauthenticated("This sign-in link is not valid.", code="invalid_magic_link")

    existing = await s.scalar(sa.select(HubMembership).where(
        HubMembership.hub_id == hub.id, HubMembership.contact_id == contact.id))
    if existing is not None and effective_status(existing, now) == "banned":
        raise Forbidden("You are banned from this hub.", code="banned")
    if hub.is_private and (existing is None or existing.status == "left"):
        raise Forbidden("This hub is private and you are not a member.", code="not_a_member")
    await ensure_team_contact(uow, now, hub.team_id, contact, source="magic_link")
    membership, _ = await ensure_membership(uow, now, hub, contact)
    access, expires_at = issue_member_token(tokens, contact_id=contact.id, hub_id=hub.id)
    return MemberLogin(access, expires_at, contact, hub, membership)
