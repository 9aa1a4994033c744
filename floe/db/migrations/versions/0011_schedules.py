"""schedules: a job run at the times of a cron expression; the schedule that ran a job

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if "schedules" not in sa.inspect(bind).get_table_names():
        op.create_table(
            "schedules",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("owner", sa.String(255), nullable=False),
            sa.Column("project_id", sa.Integer(), sa.ForeignKey("projects.id"), nullable=False),
            sa.Column("cron", sa.String(200), nullable=False),
            sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
            sa.Column("template", sa.JSON(), nullable=False),
            sa.Column("data", sa.JSON(), nullable=False),
            sa.Column("paused", sa.Boolean(), nullable=False, server_default=sa.false()),
            sa.Column("next_run", sa.DateTime(timezone=True), nullable=False),
            sa.Column("last_run", sa.DateTime(timezone=True), nullable=True),
            sa.Column("last_job_id", sa.Integer(), nullable=True),
            sa.Column("runs", sa.Integer(), nullable=False, server_default="0"),
            sa.Column("last_error", sa.Text(), nullable=False, server_default=""),
            sa.Column("created", sa.DateTime(timezone=True), nullable=False),
            sqlite_autoincrement=True,  # jobs keep the ids of removed schedules
        )
        op.create_index("ix_schedules_owner", "schedules", ["owner"])
        op.create_index("ix_schedules_project_id", "schedules", ["project_id"])
        op.create_index("ix_schedules_next_run", "schedules", ["next_run"])
    if "schedule_id" not in {c["name"] for c in sa.inspect(bind).get_columns("jobs")}:
        with op.batch_alter_table("jobs") as batch:
            batch.add_column(sa.Column("schedule_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("schedule_id")
    op.drop_table("schedules")
