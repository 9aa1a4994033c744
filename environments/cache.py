"""The images Floe built on this node: their last uses, and removing the least recently used.

Last use is a file's time under the builder's folder (the hub and the floe service share it);
the folder holds the builds' locks too. Nothing a container uses (running or not), and no
image another is built on, is ever removed: they are built again if asked for. The images of
published environments (``published``, written by ``custom_environments``) are never removed
and not counted: an admin approved those very bytes, which a build again might not give.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import docker

KIND_LABEL = "floe.kind"
KIND = "environment"
KEY_LABEL = "floe.env.key"
BASE_LABEL = "floe.env.base-image"
# The ids of published environments' images, one a line, in the cache's folder.
PUBLISHED = "published.ids"


class BuildCache:
    """Built images of one repository on this node's engine."""

    def __init__(
        self, api: docker.APIClient, folder: Path, repository: str, log: logging.Logger
    ) -> None:
        self.api, self.folder, self.repository, self.log = api, folder, repository, log
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _mark(self, key: str) -> Path:
        return self.folder / f"{key[:32]}.used"

    def used(self, key: str) -> None:
        """Note that the image of ``key`` was used now."""
        self._mark(key).touch()

    def last_used(self, key: str) -> float:
        try:
            return self._mark(key).stat().st_mtime
        except FileNotFoundError:
            return 0.0

    def publish(self, image_ids: set[str]) -> None:
        """Keep exactly these images whatever the cache's size (the published environments'
        images), in place of those kept before."""
        path = self.folder / PUBLISHED
        partial = path.with_name(f".{PUBLISHED}.{os.getpid()}")
        partial.write_text("".join(f"{i}\n" for i in sorted(image_ids)))
        os.replace(partial, path)  # the hub's builder never reads half a list

    def published(self) -> set[str]:
        try:
            return set((self.folder / PUBLISHED).read_text().split())
        except FileNotFoundError:
            return set()

    def images(self) -> list[dict]:
        """The images built here: tag, key, own bytes (past their base), last use, in use,
        published."""
        in_use = {c["ImageID"] for c in self.api.containers(all=True)}
        published = self.published()
        sizes = {i["Id"]: i["Size"] for i in self.api.images()}
        found = []
        for image in self.api.images(filters={"label": f"{KIND_LABEL}={KIND}"}):
            tags = [t for t in image.get("RepoTags") or [] if t.startswith(f"{self.repository}:")]
            if not tags:  # another Floe's (or another repository's) on the same engine
                continue
            labels = image.get("Labels") or {}
            key = labels.get(KEY_LABEL, "")
            base = sizes.get(labels.get(BASE_LABEL, ""), 0)
            found.append(
                {
                    "id": image["Id"],
                    "tag": tags[0],
                    "key": key,
                    "bytes": max(image["Size"] - base, 0),
                    "last_used": self.last_used(key),
                    "in_use": image["Id"] in in_use,
                    "published": image["Id"] in published,
                }
            )
        return found

    def prune(self, budget: int) -> list[str]:
        """Remove the least recently used images past ``budget`` bytes (never one in use or
        published); returns the tags removed."""
        kept = [i for i in self.images() if not i["published"]]
        images = sorted(kept, key=lambda i: i["last_used"])
        total = sum(i["bytes"] for i in images)
        removed = []
        for image in images:
            if total <= budget:
                break
            if image["in_use"]:
                continue
            try:
                self.api.remove_image(image["id"])  # refused while an image is built on it
            except docker.errors.APIError as err:
                self.log.info("kept %s: %s", image["tag"], err.explanation or err)
                continue
            total -= image["bytes"]
            removed.append(image["tag"])
            self._mark(image["key"]).unlink(missing_ok=True)
            self.log.info("removed %s (least recently used, over the cache's size)", image["tag"])
        return removed
