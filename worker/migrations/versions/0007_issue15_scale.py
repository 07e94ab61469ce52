"""issue15 scale: indexes for the due-scan, redrive and intake; dispatch and retry-window columns

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from worker.models import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("invitation") as batch_op:
        batch_op.add_column(sa.Column("dispatch_until", UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_invitation_due", ["campaign_id", "state", "reminders_sent"], unique=False
        )
        batch_op.create_index("ix_invitation_dispatch", ["dispatch_until"], unique=False)
    with op.batch_alter_table("outbound_message") as batch_op:
        batch_op.add_column(
            sa.Column("first_attempt_at", UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_outbound_lease", ["state", "lease_until"], unique=False)
        batch_op.create_index("ix_outbound_invitation", ["invitation_id"], unique=False)
    with op.batch_alter_table("contact") as batch_op:
        batch_op.create_index("ix_contact_email", ["email"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("contact") as batch_op:
        batch_op.drop_index("ix_contact_email")
    with op.batch_alter_table("outbound_message") as batch_op:
        batch_op.drop_index("ix_outbound_invitation")
        batch_op.drop_index("ix_outbound_lease")
        batch_op.drop_column("first_attempt_at")
    with op.batch_alter_table("invitation") as batch_op:
        batch_op.drop_index("ix_invitation_dispatch")
        batch_op.drop_index("ix_invitation_due")
        batch_op.drop_column("dispatch_until")
