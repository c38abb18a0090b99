"""Register, log in, refresh, log out: staff sessions with rotating refresh tokens.

A login opens a session (a refresh-token family). Each refresh consumes the presented token and
issues a new one. Presenting a consumed token again means it leaked: the whole family is revoked,
and so is every access token minted from it (access tokens carry the session id and are checked
against it on every request).

One exception, the reuse grace window (``AuthConfig.refresh_reuse_grace``): two tabs refreshing
with the same token at once is a race, not a theft. For a short time after a rotation, presenting
the token that was just rotated (the immediate predecessor of the family's current token, whose
successor has not been used yet) answers with that same successor and a new access token for the
same session, instead of revoking. Nothing is written on that path: no new token, no fork in the
chain, no extension of the session. Past the window, for any older token, or once the successor
has itself been rotated, reuse revokes the family as above; a revoked session never refreshes.

The successor's secret is derived from the presented token with the server key
(``TokenService.derive_secret``), so the grace answer can hand the same secret back without the
database ever holding a usable one.
"""

from __future__ import annotations

import hmac
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

import sqlalchemy as sa

from domain.context import Ctx
from domain.errors import Conflict, Unauthenticated
from domain.identity.passwords import Passwords
from domain.identity.principals import StaffPrincipal
from domain.identity.tokens import TokenService, random_secret, sha256_hex
from domain.identity.validation import check_password, normalize_email
from domain.teams import service as teams
from persistence.db import UnitOfWork
from persistence.models import AuthSession, RefreshToken, User

log = logging.getLogger(__name__)

REFRESH_PREFIX = "hw_rt_"
_SUCCESSOR_PURPOSE = "hubwire.refresh-token.successor"


@dataclass(frozen=True)
class AuthConfig:
    """How staff sessions are minted: the token service, password hashing and lifetimes (time
    itself comes from the use case's ``Ctx``)."""

    tokens: TokenService
    passwords: Passwords
    refresh_ttl: timedelta
    # How long after a rotation the rotated token still answers with its successor; 0: never.
    refresh_reuse_grace: timedelta = timedelta(0)


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    user: User


async def register_user(
    ctx: Ctx, *, email: str, password: str, first_name: str | None = None, last_name: str | None = None,
    ip: str | None = None, user_agent: str | None = None, auth: AuthConfig,
) -> IssuedTokens:
    """Create a staff user with a personal team, and log them in."""
    email = normalize_email(email)
    check_password(password)
    s = ctx.uow.session
    if await s.scalar(sa.select(User.id).where(User.email == email)) is not None:
        raise Conflict("An account with this email already exists.", code="email_taken", field="email")
    now = ctx.now()
    user = User(
        email=email,
        password_hash=await auth.passwords.hash(password),
        first_name=first_name,
        last_name=last_name,
        created_at=now,
        updated_at=now,
    )
    s.add(user)
    await s.flush()
    label = first_name or email.split("@")[0]
    await teams.create_team(ctx, owner_id=user.id, name=f"{label}'s team", is_personal=True)
    return await _open_session(ctx.uow, auth, user, now, ip=ip, user_agent=user_agent)


async def create_user(ctx: Ctx, *, email: str, password: str, first_name: str | None = None,
                      last_name: str | None = None, auth: AuthConfig) -> User:
    """Create a staff user and personal team without logging in (the ``create-user`` command)."""
    issued = await register_user(ctx, email=email, password=password, first_name=first_name,
                                 last_name=last_name, auth=auth)
    return issued.user


async def login(
    ctx: Ctx, *, email: str, password: str, ip: str | None = None, user_agent: str | None = None,
    auth: AuthConfig,
) -> IssuedTokens:
    """Check the password and open a session. The same error whether the email exists or not."""
    s = ctx.uow.session
    user = await s.scalar(sa.select(User).where(User.email == normalize_email_loosely(email)))
    ok = await auth.passwords.verify(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        raise Unauthenticated("The email or password is incorrect.", code="invalid_credentials")
    if auth.passwords.needs_rehash(user.password_hash):
        user.password_hash = await auth.passwords.hash(password)
    return await _open_session(ctx.uow, auth, user, ctx.now(), ip=ip, user_agent=user_agent)


# How far back a sign-in makes a device "known" (see ``is_known_device``).
KNOWN_DEVICE_WINDOW = timedelta(days=90)


async def is_known_device(ctx: Ctx, *, email: str, ip: str | None, user_agent: str | None) -> bool:
    """Whether the user with ``email`` signed in (or registered) from this very IP address with
    this very user agent within ``KNOWN_DEVICE_WINDOW``: every login stores both on its session.

    The login route lets such a device through the per-email lock-out with the right password, so
    that a stranger's failed attempts cannot lock a creator out of their own team. A stranger
    would need the password *and* the creator's address and user agent; the per-IP limit still
    bounds how fast anyone may guess from one address."""
    if not ip or not user_agent:
        return False
    found = await ctx.uow.session.scalar(
        sa.select(AuthSession.id)
        .join(User, User.id == AuthSession.user_id)
        .where(User.email == normalize_email_loosely(email), AuthSession.ip == ip[:64],
               AuthSession.user_agent == user_agent[:300],
               AuthSession.created_at >= ctx.now() - KNOWN_DEVICE_WINDOW)
        .limit(1)
    )
    return found is not None


def normalize_email_loosely(email: str) -> str:
    """The email as ``login`` looks it up (trimmed, lower case), without validating it."""
    return email.strip().lower()


async def refresh(ctx: Ctx, *, refresh_token: str, auth: AuthConfig) -> IssuedTokens:
    """Rotate a refresh token. Reusing a consumed one revokes its whole family, unless it is the
    token rotated moments ago (the reuse grace window): then the caller gets the same successor."""
    uow = ctx.uow
    s = uow.session
    now = ctx.now()
    row = (
        await s.execute(
            sa.select(RefreshToken, AuthSession)
            .join(AuthSession, AuthSession.id == RefreshToken.session_id)
            .where(RefreshToken.token_hash == sha256_hex(refresh_token))
        )
    ).first()
    if row is None:
        raise Unauthenticated("The refresh token is not valid.", code="invalid_refresh_token")
    token, session = row
    if session.revoked_at is not None:
        raise _session_revoked()
    if token.used_at is not None:
        return await _reused(uow, auth, token, session, refresh_token, now)
    if now >= token.expires_at or now >= session.expires_at:
        raise _expired()
    # Consume atomically: of two concurrent refreshes with the same token, exactly one rotates.
    consumed = await s.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.id == token.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if consumed.rowcount != 1:
        # Another request rotated it first. Its transaction has committed by now (PostgreSQL held
        # this UPDATE on the row lock until then; SQLite serializes whole write transactions), so
        # read both rows again and judge this attempt as the reuse it now is.
        log.debug("refresh lost the rotation race: a concurrent refresh consumed the token first")
        await s.refresh(token)
        await s.refresh(session)
        if session.revoked_at is not None:
            raise _session_revoked()
        return await _reused(uow, auth, token, session, refresh_token, now)
    user = await _active_user(uow, session)
    return await _issue(uow, auth, user, session, now, secret=_successor_secret(auth, refresh_token), parent=token)


async def _reused(uow: UnitOfWork, auth: AuthConfig, token: RefreshToken, session: AuthSession,
                  presented: str, now: datetime) -> IssuedTokens:
    """A consumed token came back: the grace answer if it qualifies, else revoke the family."""
    assert token.used_at is not None
    if auth.refresh_reuse_grace > timedelta(0) and now < token.used_at + auth.refresh_reuse_grace:
        # Only the immediate predecessor of the current token qualifies: the successor must
        # exist, be unrotated, and be the one derived from the presented secret.
        successor = await uow.session.scalar(
            sa.select(RefreshToken).where(RefreshToken.parent_id == token.id,
                                          RefreshToken.session_id == session.id)
        )
        secret = _successor_secret(auth, presented)
        if (successor is not None and successor.used_at is None
                and hmac.compare_digest(successor.token_hash, sha256_hex(secret))):
            # Within the window but past the session's end (or the successor's), the session
            # is over: say so; there is nothing left to revoke or to hand out.
            if now >= successor.expires_at or now >= session.expires_at:
                raise _expired()
            user = await _active_user(uow, session)
            # Read-only: the same successor, its own expiry, and an access token capped to the
            # session's end. The session's expiry is not moved.
            access, access_expires = _access_token(auth, user, session, now)
            return IssuedTokens(access, access_expires, secret, min(successor.expires_at, session.expires_at), user)
    await _revoke_reused(uow, session.id, now)


async def _active_user(uow: UnitOfWork, session: AuthSession) -> User:
    user = await uow.session.get(User, session.user_id)
    if user is None or not user.is_active:
        raise Unauthenticated("The account is disabled.", code="account_disabled")
    return user


def _successor_secret(auth: AuthConfig, presented: str) -> str:
    return auth.tokens.derive_secret(REFRESH_PREFIX, _SUCCESSOR_PURPOSE, presented)


def _session_revoked() -> Unauthenticated:
    return Unauthenticated("This session has been signed out.", code="session_revoked")


def _expired() -> Unauthenticated:
    return Unauthenticated("The refresh token has expired; log in again.", code="refresh_token_expired")


async def logout(ctx: Ctx, principal: StaffPrincipal | None, *, refresh_token: str | None = None) -> None:
    """End the caller's session (or the one ``refresh_token`` belongs to): its tokens stop working."""
    s = ctx.uow.session
    now = ctx.now()
    session_ids: set[uuid.UUID] = set()
    if principal is not None:
        session_ids.add(principal.session_id)
    if refresh_token:
        sid = await s.scalar(
            sa.select(RefreshToken.session_id).where(RefreshToken.token_hash == sha256_hex(refresh_token))
        )
        if sid is not None:
            session_ids.add(sid)
    if not session_ids:
        raise Unauthenticated("Nothing to sign out: send an access token or a refresh token.")
    await s.execute(
        sa.update(AuthSession)
        .where(AuthSession.id.in_(session_ids), AuthSession.revoked_at.is_(None))
        .values(revoked_at=now, revoke_reason="logout")
        .execution_options(synchronize_session=False)
    )


async def authenticate_access_token(ctx: Ctx, token: str, *, tokens: TokenService) -> StaffPrincipal:
    """The staff principal behind an access token (decoded by ``tokens``), checked against its
    (possibly revoked) session."""
    claims = tokens.decode(token)
    if claims.kind != "staff" or claims.session_id is None:
        raise Unauthenticated("This token cannot be used here.", code="wrong_token_type")
    row = (
        await ctx.uow.session.execute(
            sa.select(User.email, User.is_active, AuthSession.revoked_at)
            .join(AuthSession, AuthSession.user_id == User.id)
            .where(AuthSession.id == claims.session_id, User.id == claims.subject)
        )
    ).first()
    if row is None:
        raise Unauthenticated("The access token is invalid.", code="invalid_token")
    if row.revoked_at is not None:
        raise Unauthenticated("This session has been signed out.", code="token_revoked")
    if not row.is_active:
        raise Unauthenticated("The account is disabled.", code="account_disabled")
    return StaffPrincipal(user_id=claims.subject, session_id=claims.session_id, email=row.email)


async def _revoke_reused(uow: UnitOfWork, session_id: uuid.UUID, now: datetime) -> NoReturn:
    await uow.session.execute(
        sa.update(AuthSession)
        .where(AuthSession.id == session_id)
        .values(revoked_at=now, revoke_reason="refresh_token_reused")
        .execution_options(synchronize_session=False)
    )
    # The revocation must stick even though the request fails.
    await uow.commit()
    raise Unauthenticated(
        "This refresh token was already used; the session has been revoked for safety.",
        code="refresh_token_reused",
    )


async def _open_session(uow: UnitOfWork, auth: AuthConfig, user: User, now: datetime, *, ip: str | None,
                        user_agent: str | None) -> IssuedTokens:
    session = AuthSession(
        user_id=user.id, created_at=now, expires_at=now + auth.refresh_ttl,
        ip=(ip or None) and ip[:64], user_agent=(user_agent or None) and user_agent[:300],
    )
    uow.session.add(session)
    await uow.session.flush()
    return await _issue(uow, auth, user, session, now)


async def _issue(uow: UnitOfWork, auth: AuthConfig, user: User, session: AuthSession, now: datetime, *,
                 secret: str | None = None, parent: RefreshToken | None = None) -> IssuedTokens:
    secret = secret or random_secret(REFRESH_PREFIX)
    # Sliding session: every rotation extends it; an idle session ends after refresh_ttl.
    refresh_expires = now + auth.refresh_ttl
    session.expires_at = refresh_expires
    uow.session.add(RefreshToken(session_id=session.id, token_hash=sha256_hex(secret), created_at=now,
                                 expires_at=refresh_expires, parent_id=parent.id if parent else None))
    access, access_expires = _access_token(auth, user, session, now)
    await uow.session.flush()
    return IssuedTokens(access, access_expires, secret, refresh_expires, user)


def _access_token(auth: AuthConfig, user: User, session: AuthSession, now: datetime) -> tuple[str, datetime]:
    # An access token never outlives its session (matters only when the refresh TTL is the shorter).
    ttl = min(auth.tokens.access_ttl, session.expires_at - now)
    return auth.tokens.issue(subject=user.id, kind="staff", session_id=session.id, ttl=ttl)
