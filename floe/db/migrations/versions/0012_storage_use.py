"""storage_use: the bytes each holder holds, counted as blobs come and go

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if "storage_use" not in sa.inspect(bind).get_table_names():
        op.create_table(
            "storage_use",
            sa.Column("holder", sa.String(255), primary_key=True),
            sa.Column("bytes", sa.BigInteger(), nullable=False),
        )
    elif bind.execute(sa.text("SELECT COUNT(*) FROM storage_use")).scalar():
        return  # counted already
    op.execute(
        "INSERT INTO storage_use (holder, bytes) SELECT h.holder, SUM(b.size) "
        "FROM blob_holders h JOIN blobs b ON b.sha256 = h.sha256 GROUP BY h.holder"
    )


def downgrade() -> None:
    op.drop_table("storage_use")
