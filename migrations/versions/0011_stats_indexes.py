"""statistics: callback_request(account_id, created_at) for the cabinet's period queries (issue 9)

Revision ID: 0011_stats_indexes
Revises: 0010_notification_preferences
Create Date: 2026-11-27 19:35:00

"""
from alembic import op


revision = '0011_stats_indexes'
down_revision = '0010_notification_preferences'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('callback_request', schema=None) as batch_op:
        batch_op.create_index('ix_callback_request_account_created', ['account_id', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('callback_request', schema=None) as batch_op:
        batch_op.drop_index('ix_callback_request_account_created')
