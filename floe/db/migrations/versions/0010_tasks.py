"""tasks: sweeps of jobs over a grid of parameters; a job's task

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if "tasks" not in sa.inspect(bind).get_table_names():
        op.create_table(
            "tasks",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("project_id", sa.Integer(), sa.ForeignKey("projects.id"), nullable=False),
            sa.Column("number", sa.Integer(), nullable=False),
            sa.Column("owner", sa.String(255), nullable=False),
            sa.Column("sweep", sa.JSON(), nullable=False),
            sa.Column("random", sa.Integer(), nullable=True),
            sa.Column("parallel", sa.Integer(), nullable=True),
            sa.Column("goals", sa.JSON(), nullable=False),
            sa.Column("message", sa.Text(), nullable=False, server_default=""),
            sa.Column("created", sa.DateTime(timezone=True), nullable=False),
            sa.Column("stop_requested_by", sa.String(255), nullable=False, server_default=""),
            sa.UniqueConstraint("project_id", "number"),
        )
        op.create_index("ix_tasks_project_id", "tasks", ["project_id"])
        op.create_index("ix_tasks_owner", "tasks", ["owner"])
    if "task_id" not in {c["name"] for c in sa.inspect(bind).get_columns("jobs")}:
        with op.batch_alter_table("jobs") as batch:
            batch.add_column(sa.Column("task_id", sa.Integer(), nullable=True))
            batch.create_foreign_key("fk_jobs_task_id", "tasks", ["task_id"], ["id"])
            batch.create_index("ix_jobs_task_id", ["task_id"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_task_id")
        batch.drop_constraint("fk_jobs_task_id", type_="foreignkey")
        batch.drop_column("task_id")
    op.drop_table("tasks")
