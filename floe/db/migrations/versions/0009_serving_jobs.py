"""serving jobs: a job's mode and request figures, the tokens that may call it; a job's step

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if "serving_tokens" not in sa.inspect(bind).get_table_names():
        op.create_table(
            "serving_tokens",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("job_id", sa.Integer(), sa.ForeignKey("jobs.id"), nullable=False),
            sa.Column("name", sa.String(255), nullable=False, server_default=""),
            sa.Column("digest", sa.String(64), nullable=False, unique=True),
            sa.Column("prefix", sa.String(32), nullable=False),
            sa.Column("created_by", sa.String(255), nullable=False),
            sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        )
        op.create_index("ix_serving_tokens_job_id", "serving_tokens", ["job_id"])
    columns = {c["name"] for c in sa.inspect(bind).get_columns("jobs")}
    with op.batch_alter_table("jobs") as batch:
        if "mode" not in columns:
            batch.add_column(sa.Column("mode", sa.String(16), nullable=False, server_default="run"))
        if "serving" not in columns:
            batch.add_column(sa.Column("serving", sa.JSON(), nullable=True))
        if "step" not in columns:
            batch.add_column(sa.Column("step", sa.String(100), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("step")
        batch.drop_column("serving")
        batch.drop_column("mode")
    op.drop_table("serving_tokens")
