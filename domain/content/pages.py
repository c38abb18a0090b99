"""Pages: a hub's standalone pages (about, FAQ, a home page), each a draft and the version last
published.

- Every write of a page (PATCH, tree placement) names the draft it changes: ``If-Match:
  <draft_version>``; 428 ``if_match_required`` without it, 409 ``stale_draft`` when someone saved
  first. The check and the bump are one conditional UPDATE, so two writers holding the same
  version cannot both win. ``publish`` copies the draft to the published version (``If-Match``
  optional there: with it, only the draft the caller saw is published).
- A page's sections (``domain.content.sections``) are part of its draft: their writes follow the
  same ``If-Match`` rules and bump the same ``draft_version``; ``publish`` publishes them too.
- ``privacy``: ``public`` (the published version is readable without a token, cacheable),
  ``members`` (members the access evaluator lets view the page — hub rules and the page's own),
  ``private`` (secret to members: 404, unless an access override names the page). Members and the
  public only ever see the published version.
- Pages nest: ``parent_id`` and a dense ``position`` among siblings (``PUT …/tree``; no cycles).
  At most one live page of a hub is its home page (``is_home``: setting it moves the mark).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from domain.access.facts import Subject
from domain.access.invalidation import facts_changed
from domain.access.service import check, refuse_unless_allowed
from domain.content.nodes import check_title, lock_tree, parent_id
from domain.content.sanitize import check_body
from domain.context import Ctx
from domain.errors import Conflict, NotFound, PreconditionRequired, ValidationFailed
from domain.identity.members import MemberPrincipal
from persistence.db import UnitOfWork
from persistence.ids import parse_id
from persistence.models import Hub, Page, PageSection
from persistence.pagination import Page as ListPage
from persistence.pagination import PageRequest, paginate

PRIVACY = ("public", "members", "private")
MAX_SLUG = 200
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_ETAG = re.compile(r'^(?:W/)?"?(\d{1,9})"?$')
ANY_VERSION = -1  # ``If-Match: *``: the caller knowingly writes over whatever draft is there


def parse_if_match(value: str | None) -> int | None:
    """The draft version an ``If-Match`` header names (``3``, ``"3"`` or ``W/"3"``; ``*``:
    :data:`ANY_VERSION`), None when absent; 409 ``stale_draft`` for a value that names no version
    (it cannot match the draft)."""
    if value is None or value.strip() == "":
        return None
    if value.strip() == "*":
        return ANY_VERSION
    m = _ETAG.match(value.strip())
    if m is None:
        raise Conflict("If-Match names a draft_version (a number).", code="stale_draft")
    return int(m.group(1))


# ---- reading --------------------------------------------------------------------------------------


async def find_page(uow: UnitOfWork, hub_id: uuid.UUID, page_id: uuid.UUID | None, *,
                    field: str | None = None) -> Page:
    page = await uow.session.get(Page, page_id) if page_id else None
    if page is None or page.hub_id != hub_id or page.deleted_at is not None:
        raise NotFound("No page of this hub has this id.", field=field)
    return page


async def list_pages(ctx: Ctx, hub: Hub, page: PageRequest) -> ListPage[Page]:
    stmt = sa.select(Page).where(Page.hub_id == hub.id, Page.deleted_at.is_(None))
    return await paginate(ctx.uow.session, stmt, Page.id, page)


async def home_page(ctx: Ctx, hub_id: uuid.UUID) -> Page:
    page = await ctx.uow.session.scalar(sa.select(Page).where(Page.hub_id == hub_id, Page.is_home.is_(True),
                                                              Page.deleted_at.is_(None)))
    if page is None:
        raise NotFound("This hub has no home page.")
    return page


async def public_page(ctx: Ctx, hub_id: uuid.UUID | None, key: str | None) -> Page:
    """The published version of a public page of a live hub, by id or slug (``None``: the home page);
    404 for anything else (a draft never published, a members or private page, a deleted one)."""
    if hub_id is None:
        raise NotFound("No such page.")
    page = await _by_key(ctx, hub_id, key)
    if page is None or page.privacy != "public" or page.published_version is None:
        raise NotFound("No such page.")
    live = await ctx.uow.session.scalar(sa.select(Hub.id).where(Hub.id == hub_id, Hub.deleted_at.is_(None)))
    if live is None:
        raise NotFound("No such page.")
    return page


async def member_page(ctx: Ctx, member: MemberPrincipal, key: str | None) -> Page:
    """The published version of a page for a member, as the access evaluator decides (the page
    target: hub rules, the page's own, privacy); 404 when unpublished, missing or secret to them,
    403 with the reason when a rule refuses. A public page is readable whatever the rules."""
    page = await _by_key(ctx, member.hub_id, key)
    if page is None or page.published_version is None:
        raise NotFound("No such page.")
    if page.privacy == "public":
        return page  # readable by anyone, token or not
    refuse_unless_allowed(await check(ctx, Subject.member(member.contact_id), "view", "page", page.id,
                                      member.hub_id))
    return page


async def _by_key(ctx: Ctx, hub_id: uuid.UUID, key: str | None) -> Page | None:
    stmt = sa.select(Page).where(Page.hub_id == hub_id, Page.deleted_at.is_(None))
    if key is None:
        stmt = stmt.where(Page.is_home.is_(True))
    else:
        pid = parse_id(key)
        stmt = stmt.where(Page.id == pid if pid is not None else Page.slug == key)
    return await ctx.uow.session.scalar(stmt.limit(1))


# ---- writing --------------------------------------------------------------------------------------


async def create_page(ctx: Ctx, hub: Hub, fields: Mapping[str, Any]) -> Page:
    """A new page (a draft, version 1): ``title`` required; ``slug`` (from the title when absent),
    ``body``, ``privacy`` (default ``members``), ``parent_id``, ``position``, ``is_home``."""
    uow = ctx.uow
    await lock_tree(uow, hub.id)
    title = check_title(fields.get("title"))
    slug = fields.get("slug")
    if slug is None:
        slug = await _free_slug(uow, hub.id, re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:180] or "page")
    else:
        await _check_slug_free(uow, hub.id, slug, None)
    parent = await _parent(uow, hub.id, fields.get("parent_id"))
    now = ctx.now()
    page = Page(hub_id=hub.id, parent_id=parent.id if parent else None, slug=slug, title=title,
                body=check_body(fields.get("body")), privacy=_check_privacy(fields.get("privacy", "members")),
                is_home=False, draft_version=1, position=0, created_at=now, updated_at=now)
    siblings = await _siblings(uow, hub.id, page.parent_id)
    uow.session.add(page)
    siblings.insert(check_position(fields.get("position"), len(siblings)), page)
    _number(siblings)
    if _check_bool(fields.get("is_home", False), "is_home"):
        await _make_home(uow, hub.id, page)
    await uow.session.flush()
    facts_changed(uow, hub_id=hub.id)
    return page


async def update_page(ctx: Ctx, hub: Hub, page: Page, changes: Mapping[str, Any], if_match: int | None) -> Page:
    """Change the draft (``title``, ``body``) and the page's settings (``slug``, ``privacy``,
    ``is_home``), bumping ``draft_version``; see the module docstring for ``If-Match``."""
    uow = ctx.uow
    await claim_draft(ctx, page, if_match)
    if "title" in changes:
        page.title = check_title(changes["title"])
    if "body" in changes:
        page.body = check_body(changes["body"])
    if "slug" in changes:
        await _check_slug_free(uow, hub.id, changes["slug"], page.id)
        page.slug = changes["slug"]
    if "privacy" in changes:
        page.privacy = _check_privacy(changes["privacy"])
        facts_changed(uow, hub_id=hub.id)
    if "is_home" in changes:
        if _check_bool(changes["is_home"], "is_home"):
            await _make_home(uow, hub.id, page)
        else:
            page.is_home = False
    page.updated_at = ctx.now()
    await uow.session.flush()
    return page


async def place_page(ctx: Ctx, hub: Hub, page: Page, fields: Mapping[str, Any], if_match: int | None) -> Page:
    """``PUT …/pages/{id}/tree``: put the page under ``parent_id`` (null: the top level) at
    ``position`` (default last); 422 ``cycle`` under itself or one of its descendants."""
    uow = ctx.uow
    await lock_tree(uow, hub.id)
    await claim_draft(ctx, page, if_match)
    parent = await _parent(uow, hub.id, fields.get("parent_id"))
    new_parent = parent.id if parent else None
    if new_parent is not None:
        seen, cursor = set(), parent
        while cursor is not None and cursor.id not in seen:
            if cursor.id == page.id:
                raise ValidationFailed("A page cannot go under itself or one of its descendants.", code="cycle",
                                       field="parent_id")
            seen.add(cursor.id)
            cursor = await uow.session.get(Page, cursor.parent_id) if cursor.parent_id else None
    old = [p for p in await _siblings(uow, hub.id, page.parent_id) if p.id != page.id]
    _number(old)
    siblings = old if new_parent == page.parent_id else await _siblings(uow, hub.id, new_parent)
    page.parent_id = new_parent
    siblings.insert(check_position(fields.get("position"), len(siblings)), page)
    _number(siblings)
    page.updated_at = ctx.now()
    await uow.session.flush()
    facts_changed(uow, hub_id=hub.id)
    return page


async def publish_page(ctx: Ctx, hub: Hub, page: Page, if_match: int | None) -> Page:
    """Copy the draft to the published version, its sections with it (a section deleted from the
    draft leaves the published page); 409 ``stale_draft`` when ``If-Match`` names another draft."""
    if if_match not in (None, ANY_VERSION, page.draft_version):
        raise _stale(page)
    now = ctx.now()
    session = ctx.uow.session
    await session.execute(sa.update(PageSection).where(PageSection.page_id == page.id, PageSection.deleted_at.is_(None))
                          .values(published_title=PageSection.title, published_body=PageSection.body,
                                  published_position=PageSection.position)
                          .execution_options(synchronize_session=False))
    await session.execute(sa.update(PageSection).where(PageSection.page_id == page.id,
                                                       PageSection.deleted_at.is_not(None),
                                                       PageSection.published_title.is_not(None))
                          .values(published_title=None, published_body=None, published_position=None)
                          .execution_options(synchronize_session=False))
    page.published_title, page.published_body = page.title, page.body
    page.published_version, page.published_at = page.draft_version, now
    page.updated_at = now
    await ctx.uow.session.flush()
    facts_changed(ctx.uow, hub_id=hub.id)
    return page


async def delete_page(ctx: Ctx, hub: Hub, page: Page, if_match: int | None) -> None:
    """Soft delete the page and the pages under it (``If-Match`` optional)."""
    uow = ctx.uow
    await lock_tree(uow, hub.id)
    if if_match not in (None, ANY_VERSION, page.draft_version):
        raise _stale(page)
    now = ctx.now()
    todo = [page]
    while todo:
        p = todo.pop()
        p.deleted_at, p.updated_at, p.is_home = now, now, False
        todo.extend(await _siblings(uow, hub.id, p.id))
    _number(await _siblings(uow, hub.id, page.parent_id))
    await uow.session.flush()
    facts_changed(uow, hub_id=hub.id)


# ---- helpers --------------------------------------------------------------------------------------


async def claim_draft(ctx: Ctx, page: Page, if_match: int | None) -> None:
    """Bump the draft version from the one ``If-Match`` names, atomically, or refuse (428 without
    it, 409 ``stale_draft`` when it moved). Every write of a page's draft starts here, its sections'
    too (``domain.content.sections``)."""
    if if_match is None:
        raise PreconditionRequired("Send If-Match: <draft_version> with writes to a page.",
                                   meta={"draft_version": page.draft_version})
    stmt = sa.update(Page).where(Page.id == page.id)
    if if_match != ANY_VERSION:
        stmt = stmt.where(Page.draft_version == if_match)
    result = await ctx.uow.session.execute(stmt.values(draft_version=Page.draft_version + 1)
                                           .execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        await ctx.uow.session.refresh(page)
        raise _stale(page)
    await ctx.uow.session.refresh(page)


def _stale(page: Page) -> Conflict:
    return Conflict("Someone saved this page first: reload it and apply your change again.", code="stale_draft",
                    meta={"draft_version": page.draft_version})


async def _make_home(uow: UnitOfWork, hub_id: uuid.UUID, page: Page) -> None:
    await uow.session.execute(sa.update(Page).where(Page.hub_id == hub_id, Page.is_home.is_(True))
                              .values(is_home=False).execution_options(synchronize_session=False))
    page.is_home = True


async def _siblings(uow: UnitOfWork, hub_id: uuid.UUID, parent_id: uuid.UUID | None) -> list[Page]:
    stmt = sa.select(Page).where(Page.hub_id == hub_id, Page.deleted_at.is_(None),
                                 Page.parent_id.is_(None) if parent_id is None else Page.parent_id == parent_id)
    return list((await uow.session.scalars(stmt.order_by(Page.position, Page.id))).all())


def _number(pages: list[Page]) -> None:
    for i, p in enumerate(pages):
        if p.position != i:
            p.position = i


async def _parent(uow: UnitOfWork, hub_id: uuid.UUID, raw: Any) -> Page | None:
    if raw is None:
        return None
    return await find_page(uow, hub_id, parent_id(raw, "page"), field="parent_id")


def _check_privacy(value: Any) -> str:
    if value not in PRIVACY:
        raise ValidationFailed(f"privacy is one of {', '.join(PRIVACY)}.", code="invalid_privacy", field="privacy")
    return str(value)


def _check_bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed(f"{field} is true or false.", code="invalid_value", field=field)
    return value


def check_position(value: Any, count: int) -> int:
    if value is None:
        return count
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationFailed("position is a whole number from 0.", code="invalid_position", field="position")
    return min(value, count)


async def _check_slug_free(uow: UnitOfWork, hub_id: uuid.UUID, slug: Any, except_id: uuid.UUID | None) -> None:
    if not isinstance(slug, str) or len(slug) > MAX_SLUG or not _SLUG.match(slug) or parse_id(slug) is not None:
        raise ValidationFailed(f"A slug is 1–{MAX_SLUG} lowercase letters, digits and inner hyphens.",
                               code="invalid_slug", field="slug")
    stmt = sa.select(Page.id).where(Page.hub_id == hub_id, Page.slug == slug, Page.deleted_at.is_(None))
    if except_id is not None:
        stmt = stmt.where(Page.id != except_id)
    if await uow.session.scalar(stmt.limit(1)) is not None:
        raise Conflict("Another page of this hub has this slug.", code="slug_taken", field="slug")


async def _free_slug(uow: UnitOfWork, hub_id: uuid.UUID, base: str) -> str:
    slug, n = base, 1
    while await uow.session.scalar(sa.select(Page.id).where(Page.hub_id == hub_id, Page.slug == slug,
                                                            Page.deleted_at.is_(None)).limit(1)) is not None:
        n += 1
        slug = f"{base[:170]}-{n}"
    return slug
