"""A discussion changed by several hands at once (really at once, on PostgreSQL: ``race``): hub
moderators, its author and the team resolving a report from the queue each lock the discussion's
row before deciding, so they apply one after the other, the later ones seeing the earlier: it is
taken down once (one ``discussion.removed``, the first removal's reason kept), and never announced
as updated once removed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from persistence.models import Discussion
from tests.support.community import (
    Listener,
    Member,
    Request,
    add_member,
    assert_error,
    db_rows,
    doc,
    events_of,
    make_discussion,
    make_space,
    race,
    row_lock,
    w,
    world,
)


async def setup(client: Any, app: Any, clock: Any) -> tuple[Any, Member, Member, str, str, str]:
    """A hub with an author, a reporter and a hub moderator; an open space with the author's
    published discussion, which the reporter reported. Returns (world, author, moderator, space id,
    discussion id, the open report's id)."""
    wd = await world(client, 2)
    author, reporter = wd.members
    mod = await add_member(client, wd.staff, wd.hub, role="moderator")
    space = make_space(client, app, clock, wd.hub.id)
    did = make_discussion(client, app, clock, wd.hub.id, space, author.contact_id)
    r = await client.post(reporter.url("/reports"), json=doc("reports", {
        "target_type": "discussion", "target_id": did, "reason": "Spam"}), headers=reporter.wh)
    assert r.status_code == 201, r.text
    return wd, author, mod, space, did, str(r.json()["data"]["id"])


def mod_remove(mod: Member, did: str, reason: str) -> Request:
    return ("POST", mod.url(f"/discussions/{did}/remove"), mod.wh, doc("removals", {"reason": reason}))


def queue_remove(wd: Any, report_id: str, reason: str) -> Request:
    return ("POST", f"{wd.hub.url}/moderation/reports/{report_id}/resolve", w(wd.staff.headers),
            doc("report_resolutions", {"action": "remove", "reason": reason}))


def author_delete(author: Member, did: str) -> Request:
    return ("DELETE", author.url(f"/discussions/{did}"), author.headers, None)


def author_edit(author: Member, did: str) -> Request:
    return ("PATCH", author.url(f"/discussions/{did}"), author.wh, doc("discussions", {"title": "Edited"}))


def row_of(client: Any, app: Any, did: str) -> Discussion:
    [d] = db_rows(client, app, sa.select(Discussion).where(Discussion.id == uuid.UUID(did)))
    return d  # type: ignore[no-any-return]


def names(listener: Listener) -> list[str]:
    return [name for _, name, _ in events_of(listener)]


@pytest.mark.parametrize("first", ["moderator", "queue"])
async def test_concurrent_removals_announce_once_and_keep_the_first_reason(client, app, clock, first):
    """A hub moderator's removal sent twice (a client retrying) and the team removing the reported
    discussion from the queue, queued on its row in turn: the first takes it down and announces it;
    the others find it removed and change nothing (200 all the same)."""
    wd, _author, mod, space, did, rid = await setup(client, app, clock)
    mods = [mod_remove(mod, did, "Off topic"), mod_remove(mod, did, "Off topic")]
    queue = queue_remove(wd, rid, "Abusive")
    requests, reason = ([*mods, queue], "Off topic") if first == "moderator" else ([queue, *mods], "Abusive")
    with Listener(client, app, f"space:{space}") as sp, Listener(client, app, f"discussion:{did}") as dl:
        results = race(client, app, row_lock(Discussion, did), *requests, in_turn=True)
        assert [r.status_code for r in results] == [200, 200, 200], [r.text for r in results]
        row = row_of(client, app, did)
        assert row.removal_reason == reason and row.removed_at is not None
        for r in results:
            a = r.json()["data"]["attributes"]
            if r.json()["data"]["type"] == "discussions":  # each moderator's answer: the first removal
                assert a["removal_reason"] == reason and a["removed_at"] is not None, a
            else:  # the queue entry: resolved, whoever came first
                assert (a["status"], a["resolution"]) == ("resolved", "remove"), a
        removed = {"id": did, "hub_id": wd.hub.id, "space_id": space, "removed_by": "moderator"}
        assert events_of(dl) == [(f"discussion:{did}", "discussion.removed", removed)]
        assert events_of(sp) == [(f"space:{space}", "discussion.removed", removed)]


@pytest.mark.parametrize("first", ["author", "author-then-queue", "moderator", "queue"])
async def test_the_author_deleting_while_a_moderator_removes_takes_it_down_once(client, app, clock, first):
    """Whoever comes first takes the discussion down and announces it; a hub moderator's removal
    after the author's deletion finds nothing (404, as for any deleted discussion), the team's
    resolution of the report still resolves it but takes nothing down again; the author still
    deletes a discussion removed a moment before, without announcing it again."""
    wd, author, mod, space, did, rid = await setup(client, app, clock)
    by_queue = first in ("queue", "author-then-queue")
    remover = queue_remove(wd, rid, "Abusive") if by_queue else mod_remove(mod, did, "Off topic")
    author_first = first.startswith("author")
    requests = [author_delete(author, did), remover] if author_first else [remover, author_delete(author, did)]
    with Listener(client, app, f"discussion:{did}") as dl:
        results = race(client, app, row_lock(Discussion, did), *requests, in_turn=True)
        row = row_of(client, app, did)
        if first == "author":
            deleted, removed = results
            assert_error(removed, 404, "not_found")
            assert row.removed_at is None
        elif first == "author-then-queue":
            deleted, resolved = results
            assert resolved.status_code == 200, resolved.text
            a = resolved.json()["data"]["attributes"]
            assert (a["status"], a["resolution"]) == ("resolved", "remove"), a
            assert row.removed_at is None
        else:
            removed, deleted = results
            assert removed.status_code == 200, removed.text
            assert row.removal_reason == ("Abusive" if first == "queue" else "Off topic")
        assert deleted.status_code == 204, deleted.text
        assert row.deleted_at is not None
        by = "author" if author_first else "moderator"
        assert events_of(dl) == [(f"discussion:{did}", "discussion.removed", {
            "id": did, "hub_id": wd.hub.id, "space_id": space, "removed_by": by})]


@pytest.mark.parametrize("remover", ["moderator", "queue"])
@pytest.mark.parametrize("first", ["remove", "edit"])
async def test_an_edit_racing_a_removal_is_never_announced_after_it(client, app, clock, remover, first):
    """The author's edit and a removal queued on the discussion's row: an edit behind the removal
    is refused (409 ``discussion_removed``) and announces nothing; one before it is announced
    before the removal."""
    wd, author, mod, space, did, rid = await setup(client, app, clock)
    removal = queue_remove(wd, rid, "Abusive") if remover == "queue" else mod_remove(mod, did, "Off topic")
    edit = author_edit(author, did)
    requests = [removal, edit] if first == "remove" else [edit, removal]
    with Listener(client, app, f"space:{space}") as sp:
        results = race(client, app, row_lock(Discussion, did), *requests, in_turn=True)
        removed, edited = results if first == "remove" else results[::-1]
        assert removed.status_code == 200, removed.text
        row = row_of(client, app, did)
        assert row.removed_at is not None
        if first == "remove":
            assert_error(edited, 409, "discussion_removed")
            assert row.title == "A discussion" and row.edited_at is None
            assert names(sp) == ["discussion.removed"]
        else:
            assert edited.status_code == 200, edited.text
            assert row.title == "Edited"
            assert names(sp) == ["discussion.updated", "discussion.removed"]


@pytest.mark.parametrize("first", ["remove", "comment"])
async def test_a_comment_racing_a_removal_never_lands_on_the_removed_discussion(client, app, clock, first):
    """A member commenting while a moderator removes the discussion: a comment that waited behind
    the removal finds the discussion gone (404, as for any removed discussion to a member who is
    not its author) and nothing is announced or counted; one that came first is posted, and the
    removal follows."""
    wd, _author, mod, _space, did, _rid = await setup(client, app, clock)
    commenter = wd.members[1]
    comment = ("POST", commenter.url(f"/discussions/{did}/comments"), commenter.wh, doc("comments", {"body": "Hi"}))
    removal = mod_remove(mod, did, "Off topic")
    with Listener(client, app, f"discussion:{did}") as dl:
        results = race(client, app, row_lock(Discussion, did), *(
            [removal, comment] if first == "remove" else [comment, removal]), in_turn=True)
        removed, posted = results if first == "remove" else results[::-1]
        assert removed.status_code == 200, removed.text
        row = row_of(client, app, did)
        if first == "remove":
            assert_error(posted, 404, "not_found")
            assert names(dl) == ["discussion.removed"]
            assert row.comment_count == 0
        else:
            assert posted.status_code == 201, posted.text
            assert names(dl) == ["comment.created", "discussion.removed"]
            assert row.comment_count == 1
