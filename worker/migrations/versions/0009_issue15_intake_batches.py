"""issue15 intake batches: a partial index on the messages waiting to be processed, and
the invitations of a contact (a reply found by its sender joins them: at 100k invitations
the join walked the whole table)

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_inbound_stored",
        "inbound_message",
        ["id"],
        postgresql_where=sa.text("state = 'stored'"),
        sqlite_where=sa.text("state = 'stored'"),
    )
    op.create_index("ix_invitation_contact", "invitation", ["contact_id"])


def downgrade() -> None:
    op.drop_index("ix_invitation_contact", table_name="invitation")
    op.drop_index("ix_inbound_stored", table_name="inbound_message")
