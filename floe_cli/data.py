"""``floe data …``: datasets from a folder, their versions, and a job's output as a version."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from floe.client.api import FloeClient, FloeError
from floe.client.transfer import download_version, upload_folder
from floe.core.refs import DatasetRef
from floe.core.text import printable

from .login import whoami
from .markers import DATA_FILE, dataset_here, job_ref, mark
from .verbs import UsageError, group, verb


def dataset_ref(client: FloeClient, text: str) -> DatasetRef:
    """``[owner/]name[:N]`` with the owner filled in (you, when left out)."""
    ref = DatasetRef.parse(text)
    return ref if ref.owner else ref.owned(whoami(client))


def cmd_init(client: FloeClient, args: argparse.Namespace) -> int:
    try:
        wanted = DatasetRef.parse(args.name)  # `mnist`, or a team's `ml-lab/mnist`
        dataset = client.create_dataset(
            wanted.name, public=args.public, description=args.description, owner=wanted.owner
        )
    except FloeError as err:
        if err.status != 409:
            raise
        dataset = client.dataset(dataset_ref(client, args.name).full_name)
    mark(Path(DATA_FILE), "dataset", dataset["full_name"])
    print(f"this folder is now dataset {dataset['full_name']}; `floe data upload` sends it")
    return 0


def cmd_upload(client: FloeClient, args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    if args.dataset:
        full_name = dataset_ref(client, args.dataset).full_name
    else:
        full_name = dataset_here(folder)
        if full_name is None:
            raise UsageError(
                f"{folder} is not a dataset folder: run `floe data init NAME` there first"
            )
    version = upload_folder(client, full_name, folder, args.message)
    print(f"{full_name}:{version['number']} ({version['file_count']} files)")
    return 0


def cmd_ls(client: FloeClient, args: argparse.Namespace) -> int:
    datasets = client.datasets()
    if args.json:
        print(json.dumps(datasets, indent=2))
        return 0
    for d in datasets:
        latest = f"v{d['latest_version']}" if d["latest_version"] else "no versions"
        print(f"{d['full_name']:40} {latest:12} {'public' if d['public'] else 'private'}")
    return 0


def cmd_versions(client: FloeClient, args: argparse.Namespace) -> int:
    full_name = dataset_ref(client, args.name).full_name
    dataset = client.dataset(full_name)
    if args.json:
        print(json.dumps(dataset["versions"], indent=2))
        return 0
    for v in dataset["versions"]:
        print(
            f"{full_name}:{v['number']:<4} {v['file_count']:>8} files {v['size']:>14} B  "
            f"{v['created'][:19]}  {v['created_by']}  {printable(v['message'])}"
        )
    return 0


def cmd_download(client: FloeClient, args: argparse.Namespace) -> int:
    ref = dataset_ref(client, args.name)
    version = download_version(client, ref.full_name, ref.version, Path(args.dir))
    print(f"{ref.full_name}:{version['number']} -> {args.dir}")
    return 0


def cmd_clone(client: FloeClient, args: argparse.Namespace) -> int:
    """FloydHub's ``data clone``: a version's files in a new folder that is the dataset, so
    ``floe data upload`` there makes its next version."""
    ref = dataset_ref(client, args.name)
    dest = Path(args.dir or ref.name)
    if dest.exists() and any(dest.iterdir()):
        raise UsageError(f"{dest} is not empty; clone into a new folder")
    version = download_version(client, ref.full_name, ref.version, dest)
    mark(dest / DATA_FILE, "dataset", ref.full_name)
    print(
        f"{ref.full_name}:{version['number']} -> {dest}; `floe data upload` there makes the "
        "next version"
    )
    return 0


def cmd_add(client: FloeClient, args: argparse.Namespace) -> int:
    """A job's output as the next version of a dataset: its blobs are stored already."""
    ref = dataset_ref(client, args.name)
    full_name = ref.full_name
    job = client.job(job_ref(args.job))
    output = client.output(job["id"])
    try:
        client.create_dataset(ref.name)
    except FloeError as err:
        if err.status != 409:
            raise
    version = client.commit(full_name, output["files"], args.message or f"output of {job['name']}")
    print(f"{full_name}:{version['number']} from {job['name']} ({version['file_count']} files)")
    return 0


def add_verbs(verbs: argparse._SubParsersAction) -> argparse._SubParsersAction:
    data = group(verbs, "data", "versioned datasets")
    init = verb(
        data,
        "init",
        cmd_init,
        "make this folder the dataset NAME, or a team's TEAM/NAME (created if new)",
    )
    init.add_argument("name")
    init.add_argument("--public", action="store_true", help="readable by every user")
    init.add_argument("--description", default="")

    upload = verb(data, "upload", cmd_upload, "send this folder as the next version")
    upload.add_argument("-m", "--message", default="", help="what changed")
    upload.add_argument("--folder", default=".", help="the folder to send (default: here)")
    upload.add_argument("--dataset", help="the dataset, if the folder was not `init`ed")

    verb(data, "ls", cmd_ls, "datasets you can read").add_argument("--json", action="store_true")

    versions = verb(data, "versions", cmd_versions, "a dataset's versions")
    versions.add_argument("name", help="[owner/]name")
    versions.add_argument("--json", action="store_true")

    download = verb(data, "download", cmd_download, "write a version's files to DIR")
    download.add_argument("name", help="[owner/]name[:version] (default: latest)")
    download.add_argument("dir")

    clone = verb(data, "clone", cmd_clone, "a version's files in a new folder that is the dataset")
    clone.add_argument("name", help="mnist, mnist:2 or bob/cats:1 (no version: the latest)")
    clone.add_argument("dir", nargs="?", help="a new folder (default: the dataset's name)")
    add = verb(data, "add", cmd_add, "make a job's output the next version of dataset NAME")
    add.add_argument("job", help="alice/cats/4, cats/4 or 4")
    add.add_argument("name", help="[owner/]name (created if new)")
    add.add_argument("-m", "--message", default="", help="default: 'output of JOB'")
    return data
