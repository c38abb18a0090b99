"""refresh token chain: each rotated refresh token's successor names its parent

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing rows keep a NULL parent: their predecessors rotated under the old rule, so a reuse
    # of one of those is answered by revoking the session, as before.
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_id', sa.Uuid(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_refresh_tokens_parent_id'), ['parent_id'])
        batch_op.create_foreign_key(batch_op.f('fk_refresh_tokens_parent_id_refresh_tokens'), 'refresh_tokens',
                                    ['parent_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_refresh_tokens_parent_id_refresh_tokens'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_refresh_tokens_parent_id'), type_='unique')
        batch_op.drop_column('parent_id')
