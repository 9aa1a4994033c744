"""a job's metric lines counted, and each key's last value kept with the job

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    columns = {c["name"] for c in sa.inspect(bind).get_columns("jobs")}
    with op.batch_alter_table("jobs") as batch:
        if "metric_lines" not in columns:
            batch.add_column(
                sa.Column("metric_lines", sa.Integer(), nullable=False, server_default="0")
            )
        if "metrics_last" not in columns:
            batch.add_column(sa.Column("metrics_last", sa.JSON(), nullable=True))
    # Jobs so far: their count and last values, read once from their rows.
    jobs = sa.table(
        "jobs", sa.column("id"), sa.column("metric_lines"), sa.column("metrics_last", sa.JSON)
    )
    metrics = sa.table("job_metrics", sa.column("id"), sa.column("job_id"), sa.column("values"))
    job_ids = bind.execute(sa.select(metrics.c.job_id).distinct()).scalars().all()
    for job_id in job_ids:
        query = sa.select(metrics.c["values"]).where(metrics.c.job_id == job_id)
        last: dict = {}
        count = 0
        for values in bind.execute(query.order_by(metrics.c.id)).scalars():
            last.update(json.loads(values) if isinstance(values, str) else values)
            count += 1
        bind.execute(
            jobs.update().where(jobs.c.id == job_id).values(metric_lines=count, metrics_last=last)
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("metrics_last")
        batch.drop_column("metric_lines")
