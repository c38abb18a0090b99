"""data rights: the audit record of each contact erasure

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-07 00:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import persistence.types

revision = '0011'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('data_erasures',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('team_id', sa.Uuid(), nullable=False),
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('team_contact_id', sa.Uuid(), nullable=False),
    sa.Column('erased_by', sa.String(length=100), nullable=False),
    sa.Column('summary', persistence.types.JSONType, nullable=False),
    sa.Column('erased_at', persistence.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_data_erasures_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_erasures'))
    )
    op.create_index('ix_data_erasures_team', 'data_erasures', ['team_id', 'erased_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_data_erasures_team', table_name='data_erasures')
    op.drop_table('data_erasures')
