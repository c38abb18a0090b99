"""Team API keys: scoped, optionally expiring, shown once, stored as a hash, revocable at once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from domain.context import Ctx
from domain.errors import NotFound, Unauthenticated, ValidationFailed
from domain.identity.principals import ApiKeyPrincipal
from domain.identity.tokens import random_secret, sha256_hex
from domain.teams.permissions import KEY_SCOPES
from domain.teams.service import TeamContext
from persistence.models import ApiKey, Team
from persistence.pagination import Page, PageRequest, paginate

KEY_PREFIX = "hw_sk_"
SHOWN_PREFIX_LEN = len(KEY_PREFIX) + 8
# last_used_at is written at most this often per key, so reads don't each cost a write.
LAST_USED_RESOLUTION = timedelta(seconds=60)

# Built once: a statement object keeps its cache key, so a request does not compute it again (the
# per-request statements of authentication; bench/README.md, REST throughput). The team comes in the
# same query, and with the principal: resolve_team needs no query of its own.
_KEY_BY_HASH = (sa.select(ApiKey, Team).join(Team, Team.id == ApiKey.team_id)
                .where(ApiKey.key_hash == sa.bindparam("key_hash")))


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    secret: str


async def create_api_key(ctx: Ctx, team: TeamContext, *, name: str, scopes: list[str] | None,
                         expires_at: datetime | None) -> CreatedKey:
    """A new key of ``team`` with ``scopes`` (default ``contacts:read``); its secret is in the
    answer and nowhere else."""
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed("A key needs a name of 1 to 200 characters.", code="invalid_name", field="name")
    requested = scopes if scopes is not None else ["contacts:read"]
    for i, scope in enumerate(requested):  # the error indexes the list as the caller sent it
        if scope not in KEY_SCOPES:
            raise ValidationFailed(
                f"Unknown or disallowed scope `{scope}`. Allowed: area:read or area:write for "
                "the team's areas (API keys cannot manage keys or members).",
                code="invalid_scope", field=("scopes", i),
            )
    scopes = sorted(set(requested))
    if not scopes:
        raise ValidationFailed("A key needs at least one scope.", code="invalid_scope", field="scopes")
    now = ctx.now()
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise ValidationFailed("expires_at needs a timezone (e.g. 2027-01-01T00:00:00Z).",
                                   code="invalid_datetime", field="expires_at")
        if expires_at <= now:
            raise ValidationFailed("expires_at must be in the future.", code="expires_in_past",
                                   field="expires_at")
    secret = random_secret(KEY_PREFIX)
    key = ApiKey(
        team_id=team.team_id, name=name, key_prefix=secret[:SHOWN_PREFIX_LEN], key_hash=sha256_hex(secret),
        scopes=scopes, created_by=team.user_id, created_at=now, expires_at=expires_at,
    )
    ctx.uow.session.add(key)
    await ctx.uow.session.flush()
    return CreatedKey(key, secret)


async def list_api_keys(ctx: Ctx, team: TeamContext, page: PageRequest, *,
                        revoked: bool | None = None) -> Page[ApiKey]:
    """The team's keys in creation order; ``revoked`` keeps only revoked (True) or live (False) ones."""
    stmt = sa.select(ApiKey).where(ApiKey.team_id == team.team_id)
    if revoked is not None:
        stmt = stmt.where(ApiKey.revoked_at.is_not(None) if revoked else ApiKey.revoked_at.is_(None))
    return await paginate(ctx.uow.session, stmt, ApiKey.id, page)


async def get_api_key(ctx: Ctx, team: TeamContext, key_id: uuid.UUID | None) -> ApiKey:
    """One of the team's keys, or 404."""
    key = await ctx.uow.session.get(ApiKey, key_id) if key_id else None
    if key is None or key.team_id != team.team_id:
        raise NotFound("API key not found.")
    return key


async def revoke_api_key(ctx: Ctx, team: TeamContext, key_id: uuid.UUID | None) -> ApiKey:
    """Revoke one of the team's keys at once (revoking it again changes nothing)."""
    key = await get_api_key(ctx, team, key_id)
    if key.revoked_at is None:
        key.revoked_at = ctx.now()
        await ctx.uow.session.flush()
    return key


async def authenticate_api_key(ctx: Ctx, secret: str) -> ApiKeyPrincipal:
    """The principal behind a presented key; revoked or expired keys fail at once."""
    uow = ctx.uow
    row = (await uow.session.execute(_KEY_BY_HASH, {"key_hash": sha256_hex(secret)})).first()
    if row is None:
        raise Unauthenticated("The API key is not valid.", code="invalid_api_key")
    key, team = row
    team_deleted_at = team.deleted_at
    now = ctx.now()
    if key.revoked_at is not None:
        raise Unauthenticated("This API key has been revoked.", code="api_key_revoked")
    if key.expires_at is not None and now >= key.expires_at:
        raise Unauthenticated("This API key has expired.", code="api_key_expired")
    if team_deleted_at is not None:
        raise Unauthenticated("The API key is not valid.", code="invalid_api_key")
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        await uow.session.execute(
            sa.update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
    return ApiKeyPrincipal(key_id=key.id, team_id=key.team_id, scopes=frozenset(key.scopes), team=team)
