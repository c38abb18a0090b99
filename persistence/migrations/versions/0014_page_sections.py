"""page sections: parts of a page's draft and of its published version, each a target of access rules

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 02:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import persistence.types

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('page_sections',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('hub_id', sa.Uuid(), nullable=False),
    sa.Column('page_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('published_title', sa.String(length=300), nullable=True),
    sa.Column('published_body', sa.Text(), nullable=True),
    sa.Column('published_position', sa.Integer(), nullable=True),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['hub_id'], ['hubs.id'], name=op.f('fk_page_sections_hub_id_hubs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['page_id'], ['pages.id'], name=op.f('fk_page_sections_page_id_pages'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_page_sections'))
    )
    with op.batch_alter_table('page_sections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_page_sections_hub_id'), ['hub_id'], unique=False)
        batch_op.create_index('ix_page_sections_page_position', ['page_id', 'position'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('page_sections', schema=None) as batch_op:
        batch_op.drop_index('ix_page_sections_page_position')
        batch_op.drop_index(batch_op.f('ix_page_sections_hub_id'))
    op.drop_table('page_sections')
