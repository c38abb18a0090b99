"""Hub use cases (team side): create, read, list, update (deep-merging the JSON objects), delete;
the hub's sender settings for email.

Every lookup is scoped to the caller's team: another team's hub, a deleted hub and a malformed id
are all "not found".
"""

from __future__ import annotations

import copy
import ipaddress
import re
import secrets
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import msgspec
import sqlalchemy as sa

from domain.access.invalidation import facts_changed
from domain.context import Ctx
from domain.errors import Conflict, Field, NotFound, ValidationFailed
from domain.identity.validation import normalize_email
from domain.teams.service import TeamContext
from persistence.db import UnitOfWork
from persistence.models import Hub, HubEmailSender
from persistence.pagination import Page, PageRequest, paginate

JSON_OBJECT_FIELDS = ("branding", "navigation", "settings", "meta")
MAX_JSON_OBJECT_BYTES = 64 * 1024  # per object, encoded as JSON
MAX_JSON_DEPTH = 20
MAX_ORIGINS = 50
MAX_ORIGIN_LENGTH = 300
MAX_DESCRIPTION = 5000
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


async def get_hub(ctx: Ctx, team: TeamContext, hub_id: uuid.UUID | None) -> Hub:
    """The team's hub, or 404 (also for another team's hub, a deleted hub or a malformed id)."""
    hub = await ctx.uow.session.get(Hub, hub_id) if hub_id else None
    if hub is None or hub.team_id != team.team_id or hub.deleted_at is not None:
        raise NotFound("Hub not found.")
    return hub


async def team_of_hub(ctx: Ctx, hub_id: uuid.UUID) -> uuid.UUID | None:
    """The team that runs hub ``hub_id``, or None for a deleted or unknown hub: for checks made
    outside a team's request (a staff socket subscribing to ``hub:{id}``)."""
    return await ctx.uow.session.scalar(sa.select(Hub.team_id).where(Hub.id == hub_id, Hub.deleted_at.is_(None)))


async def list_hubs(ctx: Ctx, team: TeamContext, page: PageRequest, *, slug: str | None = None) -> Page[Hub]:
    """The team's live hubs in creation order."""
    stmt = sa.select(Hub).where(Hub.team_id == team.team_id, Hub.deleted_at.is_(None))
    if slug is not None:
        stmt = stmt.where(Hub.slug == slug)
    return await paginate(ctx.uow.session, stmt, Hub.id, page)


async def create_hub(ctx: Ctx, team: TeamContext, fields: Mapping[str, Any]) -> Hub:
    """Create a hub from ``fields`` (``name`` required; ``slug`` generated from the name when
    absent, unique within the team; JSON objects start from ``{}`` with the merge rule applied,
    so null values are dropped)."""
    name = _check_name(fields.get("name"))
    uow = ctx.uow
    s = uow.session
    slug = fields.get("slug")
    if slug is not None:
        _check_slug(slug)
        if await _slug_taken(uow, team.team_id, slug, None):
            raise Conflict("This team already has a hub with this slug.", code="slug_taken",
                           field="slug")
    else:
        slug = await _free_slug(uow, team.team_id, _slug_from(name))
    now = ctx.now()
    objects = {f: _merged({}, fields.get(f), f) for f in JSON_OBJECT_FIELDS}
    hub = Hub(
        team_id=team.team_id, name=name, slug=slug, description=_check_description(fields.get("description")),
        is_private=bool(fields.get("is_private", False)), **objects,
        allowed_redirect_origins=normalize_origins(fields.get("allowed_redirect_origins") or []),
        created_at=now, updated_at=now,
    )
    await _flush_slug(uow, lambda: s.add(hub))
    return hub


async def update_hub(ctx: Ctx, team: TeamContext, hub: Hub, changes: Mapping[str, Any]) -> Hub:
    """Apply a partial update. ``changes`` holds only the attributes the caller sent.

    ``branding``, ``navigation``, ``settings`` and ``meta`` are merged into what is stored with
    the JSON Merge Patch rule (RFC 7386): nested objects merge key by key, a null value deletes
    its key, anything else (arrays included) replaces. A null for the whole object empties it.
    ``allowed_redirect_origins`` replaces the list.
    """
    uow = ctx.uow
    if "name" in changes:
        hub.name = _check_name(changes["name"])
    if "description" in changes:
        hub.description = _check_description(changes["description"])
    if "is_private" in changes and bool(changes["is_private"]) != hub.is_private:
        hub.is_private = bool(changes["is_private"])
        facts_changed(uow, hub_id=hub.id)
    for field in JSON_OBJECT_FIELDS:
        if field in changes:
            patch = changes[field]
            # a fresh object, so the ORM sees the change (JSON columns do not track mutation)
            setattr(hub, field, {} if patch is None else _merged(getattr(hub, field) or {}, patch, field))
    if "allowed_redirect_origins" in changes:
        hub.allowed_redirect_origins = normalize_origins(changes["allowed_redirect_origins"] or [])
    slug = changes.get("slug")
    if slug is not None and slug != hub.slug:
        _check_slug(slug)
        if await _slug_taken(uow, team.team_id, slug, hub.id):
            raise Conflict("This team already has a hub with this slug.", code="slug_taken",
                           field="slug")
        hub.slug = slug
    hub.updated_at = ctx.now()
    await _flush_slug(uow, lambda: None)
    return hub


async def delete_hub(ctx: Ctx, hub: Hub) -> None:
    """Soft delete: the hub is 404 at once, for staff and for members (their tokens stop working),
    and its slug is freed for a new hub; the rows stay for recovery."""
    now = ctx.now()
    hub.deleted_at = now
    hub.updated_at = now
    hub.slug = f"{hub.slug[:60]}-deleted-{secrets.token_hex(4)}"
    await ctx.uow.session.flush()
    facts_changed(ctx.uow, hub_id=hub.id)


# ---- sender settings ----------------------------------------------------------------------------


async def get_email_sender(ctx: Ctx, hub: Hub) -> HubEmailSender | None:
    """The hub's sender settings, or None when never set (the server-wide sender applies)."""
    return await ctx.uow.session.get(HubEmailSender, hub.id)


async def update_email_sender(ctx: Ctx, hub: Hub, changes: Mapping[str, Any]) -> HubEmailSender:
    """Set ``from_name``, ``from_email``, ``reply_to`` (only those in ``changes``; null clears)."""
    s = ctx.uow.session
    sender = await s.get(HubEmailSender, hub.id)
    if sender is None:
        sender = HubEmailSender(hub_id=hub.id, updated_at=ctx.now())
        s.add(sender)
    if "from_name" in changes:
        name = changes["from_name"]
        if name is not None:
            name = name.strip()
            # A newline here would let the value write its own mail headers.
            if not name or len(name) > 200 or any(c in name for c in "\r\n\x00"):
                raise ValidationFailed("from_name is 1 to 200 characters on one line.", code="invalid_from_name",
                                       field="from_name")
        sender.from_name = name
    for field in ("from_email", "reply_to"):
        if field in changes:
            value = changes[field]
            setattr(sender, field, None if value is None else normalize_email(value, field=field))
    sender.updated_at = ctx.now()
    await s.flush()
    return sender


# ---- JSON objects -------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON Merge Patch: returns a new value, ``target`` is left untouched."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def check_json_object(value: Any, field: Field) -> None:
    """A JSON object within the size and depth bounds, else 422 naming the attribute."""
    if not isinstance(value, dict):
        raise ValidationFailed("This must be a JSON object.", code="invalid_value", field=field)
    depth = _depth(value)
    if depth > MAX_JSON_DEPTH:
        raise ValidationFailed(f"This object nests {depth} levels; at most {MAX_JSON_DEPTH} are kept.",
                               code="too_deep", field=field)
    size = len(msgspec.json.encode(value))
    if size > MAX_JSON_OBJECT_BYTES:
        raise ValidationFailed(f"This object is {size} bytes as JSON; at most {MAX_JSON_OBJECT_BYTES} are kept.",
                               code="too_large", field=field, meta={"max_bytes": MAX_JSON_OBJECT_BYTES})


def _merged(current: dict[str, Any], patch: Any, field: str) -> dict[str, Any]:
    if patch is None:
        return dict(current)
    check_json_object(patch, field)  # bounds the patch before the (recursive) merge walks it
    result = merge_patch(current, patch)
    check_json_object(result, field)  # and the merged result: many small patches add up
    return result  # type: ignore[no-any-return]


def _depth(value: Any) -> int:
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


# ---- redirect origins ---------------------------------------------------------------------------


def normalize_origins(values: list[str]) -> list[str]:
    """Validate and normalize allowed redirect origins (``https://example.com[:port]``): scheme
    http or https, a host, an optional port, nothing else. Duplicates collapse, order is kept."""
    if len(values) > MAX_ORIGINS:
        raise ValidationFailed(f"At most {MAX_ORIGINS} origins.", code="too_many_origins",
                               field="allowed_redirect_origins")
    out: list[str] = []
    for i, value in enumerate(values):
        origin = normalize_origin(value, ("allowed_redirect_origins", i))
        if origin not in out:
            out.append(origin)
    return out


def normalize_origin(value: str, field: Field) -> str:
    """``value`` as a canonical origin: lower-case scheme and host, IDN hosts in punycode, the
    port only when given. A bare trailing ``/`` is accepted and dropped; any other path is not."""

    def bad(why: str) -> ValidationFailed:
        return ValidationFailed(f"`{value[:100]}` is not an origin like https://example.com: {why}.",
                                code="invalid_origin", field=field)

    raw = value.strip()
    if not raw or len(raw) > MAX_ORIGIN_LENGTH or any(c.isspace() or ord(c) < 32 for c in raw):
        raise bad("it is empty, too long or contains spaces")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise bad("it does not parse") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise bad("the scheme must be http or https")
    if "@" in parts.netloc:
        raise bad("user information is not allowed")
    if parts.path not in ("", "/") or "?" in raw or "#" in raw:
        raise bad("an origin has no path, query or fragment")
    host = parts.hostname or ""
    if not host:
        raise bad("it has no host")
    if parts.netloc.split(":")[0].startswith("[") or ":" in host:
        try:
            host = f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError:
            raise bad("the host is not a valid address") from None
    else:
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise bad("the host is not a valid name") from None
        if len(host) > 253 or not all(_LABEL.match(label) for label in host.split(".")):
            raise bad("the host is not a valid name")
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


# ---- field rules --------------------------------------------------------------------------------


def _check_name(name: Any) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationFailed("A hub needs a name of 1 to 200 characters.", code="invalid_name",
                               field="name")
    return str(name)


def _check_description(description: Any) -> str | None:
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise ValidationFailed(f"The description is at most {MAX_DESCRIPTION} characters.", code="too_long",
                               field="description")
    return description  # type: ignore[no-any-return]


def _check_slug(slug: str) -> None:
    if not _SLUG.match(slug):
        raise ValidationFailed("A slug is 1–100 lowercase letters, digits and inner hyphens.",
                               code="invalid_slug", field="slug")


def _slug_from(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:80].rstrip("-")
    return slug or "hub"


async def _slug_taken(uow: UnitOfWork, team_id: uuid.UUID, slug: str, except_id: uuid.UUID | None) -> bool:
    stmt = sa.select(Hub.id).where(Hub.team_id == team_id, Hub.slug == slug)
    if except_id is not None:
        stmt = stmt.where(Hub.id != except_id)
    return await uow.session.scalar(stmt) is not None


async def _free_slug(uow: UnitOfWork, team_id: uuid.UUID, base: str) -> str:
    slug = base
    while await _slug_taken(uow, team_id, slug, None):
        slug = f"{base[:70].rstrip('-')}-{secrets.token_hex(3)}"
    return slug


async def _flush_slug(uow: UnitOfWork, add: Any) -> None:
    """Flush in a savepoint: a concurrent request that took the same slug first is a 409
    ``slug_taken``, not a generic conflict."""
    try:
        async with uow.session.begin_nested():
            add()
            await uow.session.flush()
    except sa.exc.IntegrityError:
        raise Conflict("This team already has a hub with this slug.", code="slug_taken",
                       field="slug") from None
