"""crm hubs memberships member login email outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 22:38:49.089279
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import persistence.types

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('contacts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('first_name', sa.String(length=100), nullable=True),
    sa.Column('last_name', sa.String(length=100), nullable=True),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contacts')),
    sa.UniqueConstraint('email', name=op.f('uq_contacts_email'))
    )
    op.create_table('contact_attributes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('team_id', sa.Uuid(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('data_type', sa.String(length=20), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_contact_attributes_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_attributes')),
    sa.UniqueConstraint('team_id', 'key', name=op.f('uq_contact_attributes_team_id'))
    )
    op.create_table('hubs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('team_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('slug', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('is_private', sa.Boolean(), nullable=False),
    sa.Column('branding', persistence.types.JSONType, nullable=False),
    sa.Column('navigation', persistence.types.JSONType, nullable=False),
    sa.Column('settings', persistence.types.JSONType, nullable=False),
    sa.Column('meta', persistence.types.JSONType, nullable=False),
    sa.Column('allowed_redirect_origins', persistence.types.JSONType, nullable=False),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_hubs_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hubs')),
    sa.UniqueConstraint('team_id', 'slug', name=op.f('uq_hubs_team_id'))
    )
    op.create_table('segments',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('team_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.String(length=1000), nullable=True),
    sa.Column('conditions', persistence.types.JSONType, nullable=False),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_segments_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_segments'))
    )
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_segments_team_id'), ['team_id'], unique=False)

    op.create_table('tags',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('team_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('color', sa.String(length=20), nullable=True),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_tags_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tags')),
    sa.UniqueConstraint('team_id', 'name', name=op.f('uq_tags_team_id'))
    )
    op.create_table('team_contacts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('team_id', sa.Uuid(), nullable=False),
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('first_name', sa.String(length=100), nullable=True),
    sa.Column('last_name', sa.String(length=100), nullable=True),
    sa.Column('phone', sa.String(length=50), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('lifecycle_stage', sa.String(length=20), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=True),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_team_contacts_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_contacts_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_contacts')),
    sa.UniqueConstraint('team_id', 'contact_id', name=op.f('uq_team_contacts_team_id'))
    )
    with op.batch_alter_table('team_contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_contacts_contact_id'), ['contact_id'], unique=False)

    op.create_table('contact_attribute_options',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('attribute_id', sa.Uuid(), nullable=False),
    sa.Column('value', sa.String(length=100), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['attribute_id'], ['contact_attributes.id'], name=op.f('fk_contact_attribute_options_attribute_id_contact_attributes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_attribute_options')),
    sa.UniqueConstraint('attribute_id', 'value', name=op.f('uq_contact_attribute_options_attribute_id'))
    )
    op.create_table('contact_attribute_values',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('team_contact_id', sa.Uuid(), nullable=False),
    sa.Column('attribute_id', sa.Uuid(), nullable=False),
    sa.Column('value_text', sa.Text(), nullable=True),
    sa.Column('value_number', sa.Float(), nullable=True),
    sa.Column('value_date', persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('value_bool', sa.Boolean(), nullable=True),
    sa.Column('updated_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['attribute_id'], ['contact_attributes.id'], name=op.f('fk_contact_attribute_values_attribute_id_contact_attributes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_contact_id'], ['team_contacts.id'], name=op.f('fk_contact_attribute_values_team_contact_id_team_contacts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_attribute_values'))
    )
    with op.batch_alter_table('contact_attribute_values', schema=None) as batch_op:
        batch_op.create_index('ix_contact_attribute_values_contact', ['team_contact_id', 'attribute_id'], unique=False)
        batch_op.create_index('ix_contact_attribute_values_lookup', ['attribute_id', 'value_text'], unique=False)

    op.create_table('contact_tags',
    sa.Column('team_contact_id', sa.Uuid(), nullable=False),
    sa.Column('tag_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tag_id'], ['tags.id'], name=op.f('fk_contact_tags_tag_id_tags'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_contact_id'], ['team_contacts.id'], name=op.f('fk_contact_tags_team_contact_id_team_contacts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('team_contact_id', 'tag_id', name=op.f('pk_contact_tags'))
    )
    with op.batch_alter_table('contact_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_tags_tag_id'), ['tag_id'], unique=False)

    op.create_table('email_outbox',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('team_id', sa.Uuid(), nullable=True),
    sa.Column('hub_id', sa.Uuid(), nullable=True),
    sa.Column('kind', sa.String(length=50), nullable=False),
    sa.Column('to_email', sa.String(length=320), nullable=False),
    sa.Column('from_email', sa.String(length=400), nullable=False),
    sa.Column('reply_to', sa.String(length=320), nullable=True),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('text_body', sa.Text(), nullable=False),
    sa.Column('html_body', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('locked_until', persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['hub_id'], ['hubs.id'], name=op.f('fk_email_outbox_hub_id_hubs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_email_outbox_team_id_teams'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_outbox')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_email_outbox_idempotency_key'))
    )
    with op.batch_alter_table('email_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_email_outbox_due', ['status', 'next_attempt_at'], unique=False)

    op.create_table('hub_email_senders',
    sa.Column('hub_id', sa.Uuid(), nullable=False),
    sa.Column('from_name', sa.String(length=200), nullable=True),
    sa.Column('from_email', sa.String(length=320), nullable=True),
    sa.Column('reply_to', sa.String(length=320), nullable=True),
    sa.Column('updated_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['hub_id'], ['hubs.id'], name=op.f('fk_hub_email_senders_hub_id_hubs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('hub_id', name=op.f('pk_hub_email_senders'))
    )
    op.create_table('hub_memberships',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('hub_id', sa.Uuid(), nullable=False),
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('team_id', sa.Uuid(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('status_reason', sa.String(length=1000), nullable=True),
    sa.Column('status_expires_at', persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('onboarding', persistence.types.JSONType, nullable=False),
    sa.Column('notification_preferences', persistence.types.JSONType, nullable=False),
    sa.Column('profile', persistence.types.JSONType, nullable=False),
    sa.Column('joined_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('left_at', persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_hub_memberships_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['hub_id'], ['hubs.id'], name=op.f('fk_hub_memberships_hub_id_hubs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_hub_memberships_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_memberships')),
    sa.UniqueConstraint('hub_id', 'contact_id', name=op.f('uq_hub_memberships_hub_id'))
    )
    with op.batch_alter_table('hub_memberships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hub_memberships_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_hub_memberships_team_id'), ['team_id'], unique=False)

    op.create_table('hub_policies',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('hub_id', sa.Uuid(), nullable=False),
    sa.Column('policy_type', sa.String(length=30), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('require_acceptance', sa.Boolean(), nullable=False),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['hub_id'], ['hubs.id'], name=op.f('fk_hub_policies_hub_id_hubs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_policies')),
    sa.UniqueConstraint('hub_id', 'policy_type', name=op.f('uq_hub_policies_hub_id'))
    )
    op.create_table('magic_link_tokens',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('hub_id', sa.Uuid(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('redirect_url', sa.String(length=2000), nullable=True),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_magic_link_tokens_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['hub_id'], ['hubs.id'], name=op.f('fk_magic_link_tokens_hub_id_hubs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_magic_link_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_magic_link_tokens_token_hash'))
    )
    with op.batch_alter_table('magic_link_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_magic_link_tokens_contact_id'), ['contact_id'], unique=False)

    op.create_table('membership_actions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('hub_id', sa.Uuid(), nullable=False),
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('action', sa.String(length=30), nullable=False),
    sa.Column('reason', sa.String(length=1000), nullable=True),
    sa.Column('expires_at', persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('actor_user_id', sa.Uuid(), nullable=True),
    sa.Column('actor_api_key_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_api_key_id'], ['api_keys.id'], name=op.f('fk_membership_actions_actor_api_key_id_api_keys'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_membership_actions_actor_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_membership_actions_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['hub_id'], ['hubs.id'], name=op.f('fk_membership_actions_hub_id_hubs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_membership_actions'))
    )
    with op.batch_alter_table('membership_actions', schema=None) as batch_op:
        batch_op.create_index('ix_membership_actions_hub_contact', ['hub_id', 'contact_id'], unique=False)

    op.create_table('hub_policy_versions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('policy_id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('created_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['policy_id'], ['hub_policies.id'], name=op.f('fk_hub_policy_versions_policy_id_hub_policies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_policy_versions')),
    sa.UniqueConstraint('policy_id', 'version', name=op.f('uq_hub_policy_versions_policy_id'))
    )
    op.create_table('policy_acceptances',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('membership_id', sa.Uuid(), nullable=False),
    sa.Column('policy_type', sa.String(length=30), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('accepted_at', persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['membership_id'], ['hub_memberships.id'], name=op.f('fk_policy_acceptances_membership_id_hub_memberships'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policy_acceptances')),
    sa.UniqueConstraint('membership_id', 'policy_type', 'version', name=op.f('uq_policy_acceptances_membership_id'))
    )


def downgrade() -> None:
    op.drop_table('policy_acceptances')
    op.drop_table('hub_policy_versions')
    with op.batch_alter_table('membership_actions', schema=None) as batch_op:
        batch_op.drop_index('ix_membership_actions_hub_contact')

    op.drop_table('membership_actions')
    with op.batch_alter_table('magic_link_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_magic_link_tokens_contact_id'))

    op.drop_table('magic_link_tokens')
    op.drop_table('hub_policies')
    with op.batch_alter_table('hub_memberships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hub_memberships_team_id'))
        batch_op.drop_index(batch_op.f('ix_hub_memberships_contact_id'))

    op.drop_table('hub_memberships')
    op.drop_table('hub_email_senders')
    with op.batch_alter_table('email_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_email_outbox_due')

    op.drop_table('email_outbox')
    with op.batch_alter_table('contact_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_tags_tag_id'))

    op.drop_table('contact_tags')
    with op.batch_alter_table('contact_attribute_values', schema=None) as batch_op:
        batch_op.drop_index('ix_contact_attribute_values_lookup')
        batch_op.drop_index('ix_contact_attribute_values_contact')

    op.drop_table('contact_attribute_values')
    op.drop_table('contact_attribute_options')
    with op.batch_alter_table('team_contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_contacts_contact_id'))

    op.drop_table('team_contacts')
    op.drop_table('tags')
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_segments_team_id'))

    op.drop_table('segments')
    op.drop_table('hubs')
    op.drop_table('contact_attributes')
    op.drop_table('contacts')
