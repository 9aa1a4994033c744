"""The images Floe built on a node: the least recently used removed past the cache's size,
never one a container uses, never a published environment's."""

from __future__ import annotations

import logging
import time

from environments.cache import KEY_LABEL, KIND, KIND_LABEL, BuildCache


class Engine:
    """Docker's answers about images, from a dict of id -> (tag, key, size)."""

    def __init__(self, images: dict[str, tuple[str, str, int]], used_by: set[str]) -> None:
        self.found, self.used_by = images, used_by

    def containers(self, all: bool = False) -> list[dict]:  # noqa: A002 (Docker's name)
        return [{"ImageID": i} for i in self.used_by]

    def images(self, filters: dict | None = None) -> list[dict]:
        return [
            {"Id": i, "RepoTags": [tag], "Size": size, "Labels": {KIND_LABEL: KIND, KEY_LABEL: key}}
            for i, (tag, key, size) in self.found.items()
        ]

    def remove_image(self, image_id: str) -> None:
        del self.found[image_id]


def test_pruning_removes_the_least_recently_used_but_never_published_or_used_images(tmp_path):
    engine = Engine(
        {f"sha256:{n}": (f"floe/env:{n}", f"key-{n}", 100) for n in ("a", "b", "c", "d", "e")},
        used_by={"sha256:b"},
    )
    cache = BuildCache(engine, tmp_path, "floe/env", logging.getLogger("test"))
    for n in ("a", "b", "c", "d", "e"):  # a is the least recently used, e the most
        cache.used(f"key-{n}")
        time.sleep(0.02)  # past the clock's tick: each a later last use
    cache.publish({"sha256:a", "sha256:c"})
    assert cache.published() == {"sha256:a", "sha256:c"}

    # 300 bytes may stay; the published a and c are not counted: b (in use), d, e are 300.
    assert cache.prune(300) == []
    # 100 may stay: d goes (least recently used of those that may), b stays in use, e stays.
    assert cache.prune(200) == ["floe/env:d"]
    assert set(engine.found) == {"sha256:a", "sha256:b", "sha256:c", "sha256:e"}

    # Published no more: then it is the cache's again, oldest first.
    cache.publish({"sha256:c"})
    assert cache.prune(0) == ["floe/env:a", "floe/env:e"]
    assert set(engine.found) == {"sha256:b", "sha256:c"}
