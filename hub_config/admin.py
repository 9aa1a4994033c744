"""``floe-admin``: what a deployer does to a Floe from its machine's shell.

``backup DIR`` / ``restore DIR`` (``hub_config.backup``); ``node-token``: the secret a node's
volume plugin shows the floe service (``floe_service.nodes_api``), made the first time;
``check-store [--sample N] [--move-aside]``: every blob hashed again (``store_admin``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .backup import BackupError, backup, restore
from .settings import NODE_TOKEN_FILE, read_settings, secret_file
from .store_admin import run_check

# Made at the hub's first start: its presence says a Floe lives in a data dir.
HUB_SECRET = "jupyterhub_cookie_secret"


def node_token(data_dir: Path) -> str:
    """The node token of the Floe in ``data_dir``, made if that Floe has none yet; refused
    where no Floe lives (a wrong FLOE_DATA_DIR would hand out a token nothing accepts)."""
    if not (data_dir / NODE_TOKEN_FILE).exists() and not (data_dir / HUB_SECRET).exists():
        raise BackupError(f"no Floe in {data_dir}: set FLOE_DATA_DIR to the hub's data dir")
    return secret_file(data_dir / NODE_TOKEN_FILE)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="floe-admin",
        description="Back up a Floe, restore one into a fresh data dir, check its blob "
        "store, or print the node token. Reads the same FLOE_* settings as the hub "
        "(FLOE_DATA_DIR, FLOE_DB_URL, FLOE_HUB_DB_URL, the blob store's).",
    )
    verbs = parser.add_subparsers(dest="verb", required=True)
    made = verbs.add_parser("backup", help="write a backup into a new folder DIR")
    made.add_argument("dir", type=Path)
    back = verbs.add_parser("restore", help="restore the backup in DIR (the hub stopped)")
    back.add_argument("dir", type=Path)
    verbs.add_parser("node-token", help="print the token nodes' volume plugins send")
    check = verbs.add_parser(
        "check-store",
        help="hash every blob again and say which are damaged and what names them "
        "(exit 3 when any is)",
    )
    check.add_argument("--sample", type=int, metavar="N", help="check N blobs at random")
    check.add_argument(
        "--move-aside",
        action="store_true",
        help="take damaged blobs out of the store (kept under blobs/damaged) so the next "
        "upload of their bytes stores them again; make changeable ones read-only",
    )
    args = parser.parse_args(argv)
    try:
        settings = read_settings()
        if args.verb == "backup":
            manifest = backup(settings, args.dir)
            print(f"floe-admin: backed up into {args.dir} ({manifest['blobs']} blobs)")
        elif args.verb == "restore":
            restore(settings, args.dir)
            print(f"floe-admin: restored {args.dir} into {settings.data_dir}")
        elif args.verb == "check-store":
            if args.sample is not None and args.sample < 1:
                raise BackupError("--sample takes a count of blobs, at least 1")
            report = run_check(settings, args.sample, args.move_aside)
            return 0 if report.sound or args.move_aside else 3
        else:
            print(node_token(settings.data_dir))
    except BackupError as err:
        print(f"floe-admin: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
