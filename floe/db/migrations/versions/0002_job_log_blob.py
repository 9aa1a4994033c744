"""a job's log kept as a blob when the job ends

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("jobs")}
    if "log_blob" in columns:
        return  # a pre-migration database whose jobs table create_all made just now
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("log_blob", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("log_blob")
