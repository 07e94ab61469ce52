"""issue15 sent texts: the text parts of each outgoing email, kept beside its bytes, so a reply
is compared with what we sent without parsing our own MIME again (rows without them are read
from `raw`, as before)

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbound_message", sa.Column("texts", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("outbound_message", "texts")
