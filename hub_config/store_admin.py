"""``floe-admin check-store``: every blob (or a sample) hashed again against its name."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from dataset_mounter.settings import DatasetSettings
from dataset_mounter.store_check import StoreCheck, check_store
from floe.core.sizes import format_size
from floe.db.base import make_engine

from .settings import Settings

MOST_NAMES = 20  # names listed per damaged blob; the rest counted


def told_every(say: Callable[[str], object], blobs: int = 10_000) -> Callable[[int, int], None]:
    """A progress callback saying how far the check is, about every ``blobs`` blobs."""
    last = [0]

    def progress(count: int, size: int) -> None:
        if count - last[0] >= blobs:
            last[0] = count
            say(f"floe-admin: {count:,} blobs read ({format_size(size)})")

    return progress


def run_check(
    settings: Settings,
    sample: int | None = None,
    move_aside: bool = False,
    say: Callable[[str], object] = print,
) -> StoreCheck:
    """Check the store of the Floe ``settings`` describe, telling what it finds."""
    datasets = DatasetSettings(config=settings.service_config())
    store = datasets.store
    engine = make_engine(settings.floe_db_url)
    try:
        with Session(engine) as db:
            report = check_store(
                db,
                store,
                sample,
                move_aside,
                progress=told_every(say),
                cache_dir=datasets.cache_path,
            )
    finally:
        engine.dispose()
    for damage in report.damaged:
        say(f"DAMAGED {damage.sha256}: {damage.problem}")
        for name in damage.named_by[:MOST_NAMES]:
            say(f"  named by {name}")
        if len(damage.named_by) > MOST_NAMES:
            say(f"  … and {len(damage.named_by) - MOST_NAMES} more")
        if damage.moved_to:
            say(f"  moved aside to {damage.moved_to}: the next upload of its bytes stores them")
    for loose in report.loose:
        fixed = " (now the store's own, read-only)" if move_aside else ""
        say(f"LOOSE {loose.sha256}: {loose.problem}{fixed}")
    rate = report.bytes / report.seconds / 2**20 if report.seconds else 0.0
    say(
        f"floe-admin: {report.checked:,} blobs, {format_size(report.bytes)} checked in "
        f"{report.seconds:.1f} s ({rate:.0f} MiB/s): {len(report.damaged)} damaged, "
        f"{len(report.loose)} changeable"
    )
    if report.damaged and not move_aside:
        say("floe-admin: run again with --move-aside to take the damaged blobs out of the store")
    return report
