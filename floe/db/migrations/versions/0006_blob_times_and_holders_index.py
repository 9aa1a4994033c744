"""when each blob was stored (unused ones are collected), and holders found by holder

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if "created" not in {c["name"] for c in inspector.get_columns("blobs")}:
        with op.batch_alter_table("blobs") as batch:
            batch.add_column(sa.Column("created", sa.DateTime(timezone=True), nullable=True))
    # Blobs stored before: as if stored now, so an unused one goes a day from now, not at once.
    blobs = sa.table("blobs", sa.column("created", sa.DateTime(timezone=True)))
    op.execute(blobs.update().where(blobs.c.created.is_(None)).values(created=datetime.now(UTC)))
    indexes = {i["name"] for i in inspector.get_indexes("blob_holders")}
    if "ix_blob_holders_holder" not in indexes:
        op.create_index("ix_blob_holders_holder", "blob_holders", ["holder"])


def downgrade() -> None:
    op.drop_index("ix_blob_holders_holder", table_name="blob_holders")
    with op.batch_alter_table("blobs") as batch:
        batch.drop_column("created")
