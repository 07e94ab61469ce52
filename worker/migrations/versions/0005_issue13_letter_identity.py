"""issue13 letter identity: organisation aliases, who confirmed a reading, a renamed name's reading

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organisation") as batch:
        batch.add_column(sa.Column("aliases", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("reading_confirmed_by", sa.Text(), nullable=True))
    with op.batch_alter_table("signature") as batch:
        batch.add_column(sa.Column("listed_reading", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signature") as batch:
        batch.drop_column("listed_reading")
    with op.batch_alter_table("organisation") as batch:
        batch.drop_column("reading_confirmed_by")
        batch.drop_column("aliases")
