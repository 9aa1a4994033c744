"""who holds which blob: a tree may name only blobs its maker holds

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import json
import zlib

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _blobs(manifest: bytes) -> set[str]:
    return {row[1] for row in json.loads(zlib.decompress(manifest))}


def upgrade() -> None:
    bind = op.get_bind()
    if "blob_holders" not in sa.inspect(bind).get_table_names():  # else: made by create_all
        op.create_table(
            "blob_holders",
            sa.Column("sha256", sa.String(length=64), nullable=False),
            sa.Column("holder", sa.String(length=255), nullable=False),
            sa.PrimaryKeyConstraint("sha256", "holder"),
        )
    # What each owner kept so far, they hold: their versions' trees, their jobs' trees and logs.
    owned = bind.execute(
        sa.text(
            "SELECT d.owner, v.tree_digest FROM versions v JOIN datasets d ON d.id = v.dataset_id "
            "UNION SELECT owner, code_tree FROM jobs WHERE code_tree IS NOT NULL "
            "UNION SELECT owner, output_tree FROM jobs WHERE output_tree IS NOT NULL"
        )
    ).all()
    held: set[tuple[str, str]] = set()
    for owner, digest in owned:
        manifest = bind.execute(
            sa.text("SELECT manifest FROM trees WHERE digest = :d"), {"d": digest}
        ).scalar()
        if manifest is not None:
            held.update((sha, owner) for sha in _blobs(manifest))
    logs = bind.execute(sa.text("SELECT owner, log_blob FROM jobs WHERE log_blob IS NOT NULL"))
    held.update((sha, owner) for owner, sha in logs)
    if held:
        op.bulk_insert(
            sa.table("blob_holders", sa.column("sha256"), sa.column("holder")),
            [{"sha256": sha, "holder": owner} for sha, owner in sorted(held)],
        )


def downgrade() -> None:
    op.drop_table("blob_holders")
