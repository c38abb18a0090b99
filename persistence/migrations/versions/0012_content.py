"""content: slug, body and status of content nodes; members' progress through them; pages; media folders and files

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-06 23:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import persistence.types

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('content_nodes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('slug', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('body', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('status', sa.String(length=20), server_default='draft', nullable=False))
        batch_op.create_index('ix_content_nodes_hub_slug', ['hub_id', 'slug'], unique=False)

    op.create_table('content_progress',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('hub_id', sa.Uuid(), nullable=False),
    sa.Column('node_id', sa.Uuid(), nullable=False),
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('completed_at', persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_content_progress_contact_id_contacts'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['hub_id'], ['hubs.id'], name=op.f('fk_content_progress_hub_id_hubs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['node_id'], ['content_nodes.id'], name=op.f('fk_content_progress_node_id_content_nodes'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_content_progress')),
    sa.UniqueConstraint('node_id', 'contact_id', name='uq_content_progress_node_contact')
    )
    with op.batch_alter_table('content_progress', schema=None) as batch_op:
        batch_op.create_index('ix_content_progress_hub_contact', ['hub_id', 'contact_id'], unique=False)

    op.create_table('pages',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('hub_id', sa.Uuid(), nullable=False),
    sa.Column('parent_id', sa.Uuid(), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=200), nullable=False),
    sa.Column('privacy', sa.String(length=20), nullable=False),
    sa.Column('is_home', sa.Boolean(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('draft_version', sa.Integer(), nullable=False),
    sa.Column('published_title', sa.String(length=300), nullable=True),
    sa.Column('published_body', sa.Text(), nullable=True),
    sa.Column('published_version', sa.Integer(), nullable=True),
    sa.Column('published_at', persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['hub_id'], ['hubs.id'], name=op.f('fk_pages_hub_id_hubs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['parent_id'], ['pages.id'], name=op.f('fk_pages_parent_id_pages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pages'))
    )
    with op.batch_alter_table('pages', schema=None) as batch_op:
        batch_op.create_index('ix_pages_hub_parent', ['hub_id', 'parent_id'], unique=False)
        batch_op.create_index('ix_pages_hub_slug', ['hub_id', 'slug'], unique=False)

    op.create_table('media_folders',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('team_id', sa.Uuid(), nullable=False),
    sa.Column('parent_id', sa.Uuid(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['parent_id'], ['media_folders.id'], name=op.f('fk_media_folders_parent_id_media_folders'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_media_folders_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_media_folders'))
    )
    with op.batch_alter_table('media_folders', schema=None) as batch_op:
        batch_op.create_index('ix_media_folders_team_parent', ['team_id', 'parent_id'], unique=False)

    op.create_table('media_files',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('team_id', sa.Uuid(), nullable=False),
    sa.Column('hub_id', sa.Uuid(), nullable=True),
    sa.Column('folder_id', sa.Uuid(), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('checksum_sha256', sa.String(length=64), nullable=False),
    sa.Column('storage_key', sa.String(length=200), nullable=False),
    sa.Column('metadata', persistence.types.JSONType, nullable=False),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['folder_id'], ['media_folders.id'], name=op.f('fk_media_files_folder_id_media_folders'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['hub_id'], ['hubs.id'], name=op.f('fk_media_files_hub_id_hubs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_media_files_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_media_files'))
    )
    with op.batch_alter_table('media_files', schema=None) as batch_op:
        batch_op.create_index('ix_media_files_team_folder', ['team_id', 'folder_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_media_files_hub_id'), ['hub_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('media_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_media_files_hub_id'))
        batch_op.drop_index('ix_media_files_team_folder')
    op.drop_table('media_files')
    with op.batch_alter_table('media_folders', schema=None) as batch_op:
        batch_op.drop_index('ix_media_folders_team_parent')
    op.drop_table('media_folders')
    with op.batch_alter_table('pages', schema=None) as batch_op:
        batch_op.drop_index('ix_pages_hub_slug')
        batch_op.drop_index('ix_pages_hub_parent')
    op.drop_table('pages')
    with op.batch_alter_table('content_progress', schema=None) as batch_op:
        batch_op.drop_index('ix_content_progress_hub_contact')
    op.drop_table('content_progress')
    with op.batch_alter_table('content_nodes', schema=None) as batch_op:
        batch_op.drop_index('ix_content_nodes_hub_slug')
        batch_op.drop_column('status')
        batch_op.drop_column('body')
        batch_op.drop_column('slug')
