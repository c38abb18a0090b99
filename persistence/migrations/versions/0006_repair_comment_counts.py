"""repair discussions.comment_count: comments removed through a resolved report were still counted

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 02:40:00.000000
"""

from __future__ import annotations

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Data only: until this release, a team resolving a report with "remove" hid the comment but
    # left the discussion's count as it was. Recount from what is visible (neither deleted nor
    # removed), the rule domain/community/comments.py keeps from now on.
    op.execute(
        "UPDATE discussions SET comment_count = ("
        " SELECT count(*) FROM comments c"
        " WHERE c.discussion_id = discussions.id AND c.deleted_at IS NULL AND c.removed_at IS NULL)"
    )


def downgrade() -> None:
    pass  # nothing to undo: the counts were wrong before
