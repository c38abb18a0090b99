"""an index for paging a team's contacts in id order

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 01:25:00.000000
"""

from __future__ import annotations

from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_team_contacts_team_id_id', 'team_contacts', ['team_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_team_contacts_team_id_id', table_name='team_contacts')
