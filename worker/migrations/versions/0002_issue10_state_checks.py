"""issue10 state checks: every state column holds only its declared states (CHECK constraints).

The lists are written out here, as they were when this revision was made: a later revision
that adds a state drops and recreates the constraint (see RULES: `ck_<table>_<column>`).

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECKS: dict[tuple[str, str], tuple[str, ...]] = {
    ("campaign", "state"): (
        "draft",
        "open",
        "paused",
        "closing",
        "awaiting_approval",
        "delivering",
        "delivered",
        "cancelled",
    ),
    ("invitation", "state"): (
        "pending",
        "invited",
        "signed",
        "declined",
        "question",
        "unsubscribed",
        "bounced",
        "withdrawn",
        "replaced",
    ),
    ("outbound_message", "state"): (
        "queued",
        "sending",
        "sent",
        "retry",
        "failed",
        "held",
        "suppressed",
    ),
    ("inbound_message", "state"): ("stored", "processed", "review", "duplicate"),
    ("review_item", "state"): ("open", "resolved"),
    ("signature", "state"): ("active", "withdrawn"),
    ("contact", "address_state"): ("ok", "deferred", "bounced"),
}


def upgrade() -> None:
    for (table, column), states in CHECKS.items():
        values = ", ".join(f"'{s}'" for s in states)
        with op.batch_alter_table(table) as batch_op:
            batch_op.create_check_constraint(
                op.f(f"ck_{table}_{column}"), f"{column} IN ({values})"
            )


def downgrade() -> None:
    for table, column in reversed(list(CHECKS)):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(op.f(f"ck_{table}_{column}"), type_="check")
