"""an index on entitlements.ends_at for the lapse job

The lapse job (domain/commerce/lifecycle.py) looks, on every instance and every pass, for the
entitlements whose ``ends_at`` just passed and for the next one to come; without an index each
look reads the whole table.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 03:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_entitlements_ends_at', 'entitlements', ['ends_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_entitlements_ends_at', table_name='entitlements')
