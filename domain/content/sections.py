"""Page sections: the parts of a page (a teaser, the offer, the bonus for buyers) that can each be
gated on their own, the way a sales page shows everyone its opening and locks a part for those who
have not bought.

- **Part of the page's draft.** A section's writes (create, change, delete) are writes of its
  page: they send ``If-Match: <draft_version>`` of the page (428 ``if_match_required`` without,
  409 ``stale_draft`` when it moved) and bump the page's ``draft_version``, through the page's own
  conditional update (``pages.claim_draft``). ``position`` is dense among the page's live sections.
  ``publish`` of the page copies every live section to its published version and takes deleted
  ones off the published page (``pages.publish_page``); until then members see the sections as
  last published.
- **Gated on their own.** Access rules take ``target_type: "section"``; a section sits under its
  page, under the hub (``domain.access.loader``), so a rule on the page covers its sections and a
  rule on a section gates it in addition. A private page's sections are secret like the page.
- **Shown to members and the public** (:func:`member_view`, :func:`public_view`) with the
  published page: each published section in order, with the evaluator's decision for the reader
  now — ``locked``, ``lock_reason``, ``unlock_at`` (the shape of ``domain.content.tree``'s nodes) —
  and its body only when unlocked. The facts are loaded once (through the access cache) and every
  section decided in memory: one query for the sections, whatever their number. A section of a
  public page with no rule on it or on the page is as open as the page; otherwise the evaluator
  decides on the path hub → page → section (an anonymous reader is ``login_required`` in a private
  hub).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from domain.access.evaluator import Decision, decide
from domain.access.facts import AccessFacts, Subject, Target, TargetFacts
from domain.content import pages
from domain.content.nodes import check_title
from domain.content.sanitize import check_body
from domain.context import Ctx
from domain.errors import NotFound, ValidationFailed
from domain.identity.members import MemberPrincipal
from persistence.db import UnitOfWork
from persistence.models import Page, PageSection
from persistence.pagination import Page as ListPage
from persistence.pagination import PageRequest, decode_sort_cursor, encode_sort_cursor, page_of, rows_after

MAX_SECTIONS = 100  # live sections per page
_ORDER_TAG = "s"
_OPEN = Decision(True, "allowed")


# ---- the team side --------------------------------------------------------------------------------


async def find_section(uow: UnitOfWork, page: Page, section_id: uuid.UUID | None) -> PageSection:
    """The live section of ``page`` with this id, or 404 (another page's, deleted, malformed)."""
    section = await uow.session.get(PageSection, section_id) if section_id else None
    if section is None or section.page_id != page.id or section.deleted_at is not None:
        raise NotFound("No section of this page has this id.")
    return section


async def list_sections(ctx: Ctx, page: Page, request: PageRequest, after: str | None) -> ListPage[PageSection]:
    """The page's live sections in ``position`` order (cursor: position and id)."""
    cursor = decode_sort_cursor(_ORDER_TAG, "int", after)
    stmt = (sa.select(PageSection).where(PageSection.page_id == page.id, PageSection.deleted_at.is_(None),
                                         rows_after(PageSection.position, PageSection.id, cursor, descending=False))
            .order_by(PageSection.position, PageSection.id).limit(request.size + 1))
    rows = list((await ctx.uow.session.scalars(stmt)).all())
    return page_of(rows, request.size, lambda s: encode_sort_cursor(_ORDER_TAG, s.position, s.id))


async def create_section(ctx: Ctx, page: Page, fields: Mapping[str, Any], if_match: int | None) -> PageSection:
    """A new section of the page's draft: ``title`` required, ``body`` (sanitized), ``position``
    (default last; the sections after it move down). 422 ``too_many_sections`` past
    :data:`MAX_SECTIONS`."""
    await pages.claim_draft(ctx, page, if_match)
    title = check_title(fields.get("title"))
    body = check_body(fields.get("body"))
    siblings = await _siblings(ctx.uow, page)
    if len(siblings) >= MAX_SECTIONS:
        raise ValidationFailed(f"A page has at most {MAX_SECTIONS} sections.", code="too_many_sections",
                               meta={"max": MAX_SECTIONS})
    now = ctx.now()
    section = PageSection(hub_id=page.hub_id, page_id=page.id, title=title, body=body, position=len(siblings),
                          created_at=now, updated_at=now)
    ctx.uow.session.add(section)
    siblings.insert(pages.check_position(fields.get("position"), len(siblings)), section)
    _number(siblings)
    page.updated_at = now
    await ctx.uow.session.flush()
    return section


async def update_section(ctx: Ctx, page: Page, section: PageSection, changes: Mapping[str, Any],
                         if_match: int | None) -> PageSection:
    """Change the section in the page's draft: ``title``, ``body``, ``position`` (moves it among
    the page's sections)."""
    await pages.claim_draft(ctx, page, if_match)
    if "title" in changes:
        section.title = check_title(changes["title"])
    if "body" in changes:
        section.body = check_body(changes["body"])
    if "position" in changes:
        others = [s for s in await _siblings(ctx.uow, page) if s.id != section.id]
        others.insert(pages.check_position(changes["position"], len(others)), section)
        _number(others)
    section.updated_at = page.updated_at = ctx.now()
    await ctx.uow.session.flush()
    return section


async def delete_section(ctx: Ctx, page: Page, section: PageSection, if_match: int | None) -> None:
    """Delete the section from the page's draft (soft); the published page keeps it until the
    page is published again."""
    await pages.claim_draft(ctx, page, if_match)
    now = ctx.now()
    section.deleted_at = section.updated_at = page.updated_at = now
    _number([s for s in await _siblings(ctx.uow, page) if s.id != section.id])
    await ctx.uow.session.flush()


async def _siblings(uow: UnitOfWork, page: Page) -> list[PageSection]:
    stmt = sa.select(PageSection).where(PageSection.page_id == page.id, PageSection.deleted_at.is_(None))
    return list((await uow.session.scalars(stmt.order_by(PageSection.position, PageSection.id))).all())


def _number(sections: list[PageSection]) -> None:
    for i, s in enumerate(sections):
        if s.position != i:
            s.position = i


# ---- members and the public: the published sections -------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShownSection:
    """A published section as one reader sees it now; ``body`` is None while it is locked."""

    id: uuid.UUID
    title: str
    locked: bool
    lock_reason: str | None
    unlock_at: datetime | None
    published_body: str | None

    @property
    def body(self) -> str | None:
        return None if self.locked else self.published_body


@dataclass(frozen=True)
class PageView:
    page: Page
    sections: list[ShownSection]


async def member_view(ctx: Ctx, member: MemberPrincipal, key: str | None) -> PageView:
    """The published page for ``member`` (``pages.member_page``: 404/403 as the evaluator decides
    on the page) with its sections as they see them."""
    page = await pages.member_page(ctx, member, key)
    return PageView(page, await shown_sections(ctx, page, Subject.member(member.contact_id)))


async def public_view(ctx: Ctx, hub_id: uuid.UUID | None, key: str | None) -> PageView:
    """The published public page (``pages.public_page``) with its sections as a reader without a
    token sees them."""
    page = await pages.public_page(ctx, hub_id, key)
    return PageView(page, await shown_sections(ctx, page, Subject.anonymous()))


async def shown_sections(ctx: Ctx, page: Page, subject: Subject) -> list[ShownSection]:
    """The page's published sections in order, each decided for ``subject`` now (hidden ones left
    out); see the module docstring. One query, plus the access facts when the cache is cold."""
    rows = (await ctx.uow.session.execute(
        sa.select(PageSection.id, PageSection.published_title, PageSection.published_body)
        .where(PageSection.page_id == page.id, PageSection.published_title.is_not(None))
        .order_by(PageSection.published_position, PageSection.id))).all()
    if not rows:
        return []
    uow, cache = ctx.uow, ctx.access
    hub = await cache.hub(uow, page.hub_id)
    contact = (await cache.contact(uow, hub, subject.contact_id)
               if subject.kind == "member" and subject.contact_id is not None else None)
    now = ctx.now()
    page_target = Target("page", page.id)
    root = (Target("hub", page.hub_id), page_target)
    rules = hub.facts.rules_by_key
    open_page = page.privacy == "public" and page_target.key not in rules
    secret = page.privacy == "private"
    out: list[ShownSection] = []
    for section_id, title, body in rows:
        target = Target("section", section_id)
        if open_page and target.key not in rules:
            decision = _OPEN
        else:
            facts = AccessFacts(hub.facts, contact, TargetFacts(target, path=(*root, target), secret=secret))
            decision = decide(subject, "view", facts, now)
        if decision.hidden:
            continue
        out.append(ShownSection(section_id, title, not decision.allowed, None if decision.allowed else decision.reason,
                                decision.unlock_at, body))
    return out
