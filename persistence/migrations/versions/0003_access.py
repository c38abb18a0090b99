"""access entitlements rules overrides spaces content

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 22:58:35.096724
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import persistence.types

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('access_overrides',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('hub_id', sa.Uuid(), nullable=False),
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('scope', sa.String(length=20), nullable=False),
    sa.Column('target_type', sa.String(length=30), nullable=True),
    sa.Column('target_id', sa.Uuid(), nullable=True),
    sa.Column('expires_at', persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.String(length=1000), nullable=True),
    sa.Column('created_by_user_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_access_overrides_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], name=op.f('fk_access_overrides_created_by_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['hub_id'], ['hubs.id'], name=op.f('fk_access_overrides_hub_id_hubs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_overrides'))
    )
    with op.batch_alter_table('access_overrides', schema=None) as batch_op:
        batch_op.create_index('ix_access_overrides_hub_contact', ['hub_id', 'contact_id'], unique=False)

    op.create_table('access_rules',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('hub_id', sa.Uuid(), nullable=False),
    sa.Column('target_type', sa.String(length=30), nullable=False),
    sa.Column('target_id', sa.Uuid(), nullable=False),
    sa.Column('logic_operator', sa.String(length=10), nullable=False),
    sa.Column('conditions', persistence.types.JSONType, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['hub_id'], ['hubs.id'], name=op.f('fk_access_rules_hub_id_hubs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_rules'))
    )
    with op.batch_alter_table('access_rules', schema=None) as batch_op:
        batch_op.create_index('ix_access_rules_hub_target', ['hub_id', 'target_type', 'target_id'], unique=False)

    op.create_table('content_nodes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('hub_id', sa.Uuid(), nullable=False),
    sa.Column('parent_id', sa.Uuid(), nullable=True),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('node_type', sa.String(length=30), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['hub_id'], ['hubs.id'], name=op.f('fk_content_nodes_hub_id_hubs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['parent_id'], ['content_nodes.id'], name=op.f('fk_content_nodes_parent_id_content_nodes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_content_nodes'))
    )
    with op.batch_alter_table('content_nodes', schema=None) as batch_op:
        batch_op.create_index('ix_content_nodes_hub_parent', ['hub_id', 'parent_id'], unique=False)

    op.create_table('entitlements',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('hub_id', sa.Uuid(), nullable=False),
    sa.Column('team_id', sa.Uuid(), nullable=False),
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('target_id', sa.Uuid(), nullable=True),
    sa.Column('source', sa.String(length=30), nullable=False),
    sa.Column('source_id', sa.String(length=100), nullable=True),
    sa.Column('starts_at', persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ends_at', persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoke_reason', sa.String(length=500), nullable=True),
    sa.Column('granted_by_user_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_entitlements_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['granted_by_user_id'], ['users.id'], name=op.f('fk_entitlements_granted_by_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['hub_id'], ['hubs.id'], name=op.f('fk_entitlements_hub_id_hubs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_entitlements_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_entitlements'))
    )
    with op.batch_alter_table('entitlements', schema=None) as batch_op:
        batch_op.create_index('ix_entitlements_hub_contact', ['hub_id', 'contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_entitlements_team_id'), ['team_id'], unique=False)

    op.create_table('spaces',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('hub_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('slug', sa.String(length=100), nullable=False),
    sa.Column('access_level', sa.String(length=20), nullable=False),
    sa.Column('posting_permission', sa.String(length=20), nullable=False),
    sa.Column('segment_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['hub_id'], ['hubs.id'], name=op.f('fk_spaces_hub_id_hubs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['segment_id'], ['segments.id'], name=op.f('fk_spaces_segment_id_segments'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spaces')),
    sa.UniqueConstraint('hub_id', 'slug', name=op.f('uq_spaces_hub_id'))
    )
    op.create_table('space_members',
    sa.Column('space_id', sa.Uuid(), nullable=False),
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_space_members_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['space_id'], ['spaces.id'], name=op.f('fk_space_members_space_id_spaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('space_id', 'contact_id', name=op.f('pk_space_members'))
    )
    with op.batch_alter_table('space_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_space_members_contact_id'), ['contact_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('space_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_space_members_contact_id'))

    op.drop_table('space_members')
    op.drop_table('spaces')
    with op.batch_alter_table('entitlements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_entitlements_team_id'))
        batch_op.drop_index('ix_entitlements_hub_contact')

    op.drop_table('entitlements')
    with op.batch_alter_table('content_nodes', schema=None) as batch_op:
        batch_op.drop_index('ix_content_nodes_hub_parent')

    op.drop_table('content_nodes')
    with op.batch_alter_table('access_rules', schema=None) as batch_op:
        batch_op.drop_index('ix_access_rules_hub_target')

    op.drop_table('access_rules')
    with op.batch_alter_table('access_overrides', schema=None) as batch_op:
        batch_op.drop_index('ix_access_overrides_hub_contact')

    op.drop_table('access_overrides')
