"""``floe``: log in, version datasets, run jobs and reuse their output.

Exit codes: 0 ok, 1 the job (or the server) failed, 2 usage or input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import requests

from dataset_mounter.tree import BadTree
from floe.errors import FloeUserError
from floe.names import parse_ref

from .client import FloeClient, FloeError
from .config import NotLoggedIn, load_login, save_login
from .jobs_cli import UsageError, add_verbs, cmd_data_add
from .transfer import download_version, upload_folder

DATA_FILE = ".floedata"


def _client() -> FloeClient:
    login = load_login()
    return FloeClient(login.url, login.token)


def _me(client: FloeClient) -> str:
    try:
        resp = client.session.get(f"{client.url}/hub/api/user", timeout=30)
    except requests.ConnectionError:
        raise FloeError(f"could not reach Floe at {client.url}: is the hub running?") from None
    if resp.status_code != 200:
        raise FloeError(
            f"{client.url} did not accept the token ({resp.status_code}); make one at /hub/token",
            resp.status_code,
        )
    return resp.json()["name"]


def _full_name(client: FloeClient, name: str) -> tuple[str, int | None]:
    if "/" in name.split(":")[0]:
        ref = parse_ref(name, "")
    else:
        ref = parse_ref(name, _me(client))
    return f"{ref.owner}/{ref.name}", ref.version


def cmd_login(args: argparse.Namespace) -> int:
    url = args.url or input("Floe URL (e.g. http://127.0.0.1:8000): ").strip()
    token = args.token or input(f"API token (make one at {url.rstrip('/')}/hub/token): ").strip()
    client = FloeClient(url, token)
    name = _me(client)
    path = save_login(url, token)
    print(f"logged in to {client.url} as {name} (saved in {path})")
    return 0


def cmd_data_init(args: argparse.Namespace) -> int:
    client = _client()
    try:
        dataset = client.create_dataset(args.name, public=args.public, description=args.description)
    except FloeError as err:
        if err.status != 409:
            raise
        full_name, _ = _full_name(client, args.name)
        dataset = client.dataset(full_name)
    Path(DATA_FILE).write_text(json.dumps({"dataset": dataset["full_name"]}) + "\n")
    print(f"this folder is now dataset {dataset['full_name']}; `floe data upload` sends it")
    return 0


def cmd_data_upload(args: argparse.Namespace) -> int:
    client = _client()
    folder = Path(args.folder)
    marker = folder / DATA_FILE
    if args.dataset:
        full_name, _ = _full_name(client, args.dataset)
    elif marker.exists():
        full_name = json.loads(marker.read_text())["dataset"]
    else:
        raise UsageError(f"{folder} is not a dataset folder: run `floe data init NAME` there first")
    version = upload_folder(client, full_name, folder, args.message)
    print(f"{full_name}:{version['number']} ({version['file_count']} files)")
    return 0


def cmd_data_ls(args: argparse.Namespace) -> int:
    datasets = _client().datasets()
    if args.json:
        print(json.dumps(datasets, indent=2))
        return 0
    for d in datasets:
        latest = f"v{d['latest_version']}" if d["latest_version"] else "no versions"
        print(f"{d['full_name']:40} {latest:12} {'public' if d['public'] else 'private'}")
    return 0


def cmd_data_versions(args: argparse.Namespace) -> int:
    client = _client()
    full_name, _ = _full_name(client, args.name)
    dataset = client.dataset(full_name)
    if args.json:
        print(json.dumps(dataset["versions"], indent=2))
        return 0
    for v in dataset["versions"]:
        print(
            f"{full_name}:{v['number']:<4} {v['file_count']:>8} files {v['size']:>14} B  "
            f"{v['created'][:19]}  {v['created_by']}  {v['message']}"
        )
    return 0


def cmd_data_download(args: argparse.Namespace) -> int:
    client = _client()
    full_name, number = _full_name(client, args.name)
    version = download_version(client, full_name, number, Path(args.dir))
    print(f"{full_name}:{version['number']} -> {args.dir}")
    return 0


def with_client(command: Callable[[FloeClient, argparse.Namespace], int]) -> Callable:
    return lambda args: command(_client(), args)


def _data_add(args: argparse.Namespace) -> int:
    client = _client()
    full_name, _ = _full_name(client, args.name)
    return cmd_data_add(client, args, full_name)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="floe", description="Floe from the command line.")
    verbs = top.add_subparsers(dest="verb", required=True)

    login = verbs.add_parser("login", help="remember the hub URL and your API token")
    login.add_argument("--url", help="the hub, e.g. http://127.0.0.1:8000")
    login.add_argument("--token", help="an API token from <hub>/hub/token")
    login.set_defaults(run=cmd_login)

    data = verbs.add_parser("data", help="versioned datasets").add_subparsers(
        dest="data_verb", required=True
    )
    init = data.add_parser("init", help="make this folder the dataset NAME (created if new)")
    init.add_argument("name")
    init.add_argument("--public", action="store_true", help="readable by every user")
    init.add_argument("--description", default="")
    init.set_defaults(run=cmd_data_init)

    upload = data.add_parser("upload", help="send this folder as the next version")
    upload.add_argument("-m", "--message", default="", help="what changed")
    upload.add_argument("--folder", default=".", help="the folder to send (default: here)")
    upload.add_argument("--dataset", help="the dataset, if the folder was not `init`ed")
    upload.set_defaults(run=cmd_data_upload)

    ls = data.add_parser("ls", help="datasets you can read")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(run=cmd_data_ls)

    versions = data.add_parser("versions", help="a dataset's versions")
    versions.add_argument("name", help="[owner/]name")
    versions.add_argument("--json", action="store_true")
    versions.set_defaults(run=cmd_data_versions)

    download = data.add_parser("download", help="write a version's files to DIR")
    download.add_argument("name", help="[owner/]name[:version] (default: latest)")
    download.add_argument("dir")
    download.set_defaults(run=cmd_data_download)

    add = data.add_parser("add", help="make a job's output the next version of dataset NAME")
    add.add_argument("job", help="alice/cats/4, cats/4 or 4")
    add.add_argument("name", help="[owner/]name (created if new)")
    add.add_argument("-m", "--message", default="", help="default: 'output of JOB'")
    add.set_defaults(run=_data_add)

    add_verbs(verbs, with_client)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except (UsageError, NotLoggedIn, BadTree, FloeUserError) as err:
        print(f"floe: {err}", file=sys.stderr)
        return 2
    except FloeError as err:
        print(f"floe: {err}", file=sys.stderr)
        return 2 if err.status and 400 <= err.status < 500 else 1
    except KeyboardInterrupt:
        print("floe: interrupted; nothing was committed", file=sys.stderr)
        return 1


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
