"""An environment builder for the fast tier: images are names in a dict, builds act out their
requirements.

The key, tags and every decision around them are the real builder's (``build_key``, ``tag``);
only the engine is missing. A requirement naming ``floe-fails`` fails as pip would, one
naming ``floe-slow`` builds until ``FakeBuilder.release`` is set (or the job is stopped).
Plain images (the catalog's) all exist. The cache (``BuildCache``: last uses, published
images, pruning past ``cache_bytes`` after a build) is the real one, over a fake engine.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

from environments.build_container import BuildFailed, BuildStopped
from environments.builder import (
    KEY_LABEL,
    KIND,
    KIND_LABEL,
    BuiltImage,
    EnvironmentBuilder,
    build_key,
)
from environments.requirements import Requirements


def _id(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


# The bytes each built image adds to its base.
LAYER_BYTES = 1000


class FakeEngine:
    """What the cache asks Docker, answered from ``FakeBuilder.built``."""

    def containers(self, all: bool = False) -> list[dict]:  # noqa: A002 (Docker's name)
        return []

    def images(self, filters: dict | None = None) -> list[dict]:
        return [
            {
                "Id": image_id,
                "RepoTags": [tag],
                "Size": LAYER_BYTES,
                "Labels": {KIND_LABEL: KIND, KEY_LABEL: FakeBuilder.keys[tag]},
            }
            for tag, image_id in list(FakeBuilder.built.items())
        ]

    def remove_image(self, image_id: str) -> None:
        for tag, found in list(FakeBuilder.built.items()):
            if found == image_id:
                del FakeBuilder.built[tag]


class FakeBuilder(EnvironmentBuilder):
    built: dict[str, str] = {}  # tag -> id, for all instances
    keys: dict[str, str] = {}  # tag -> key
    builds: list[str] = []  # every key built, in order
    release = threading.Event()
    _guard = threading.Lock()

    @property
    def api(self) -> FakeEngine:
        return FakeEngine()

    def image_id(self, image: str) -> str | None:
        if image.startswith(f"{self.repository}:"):
            return self.built.get(image)
        return image if image.startswith("sha256:") else _id(image)

    def ensure(
        self,
        base_image: str,
        requirements: Requirements,
        say: Callable[[str], None] = lambda _line: None,
        cancelled: Callable[[], bool] = lambda: False,
        on_build: Callable[[], None] = lambda: None,
    ) -> BuiltImage:
        base_id = self.image_id(base_image)
        if base_id is None:
            raise BuildFailed(f"the environment's image {base_image} is not on this node")
        key = build_key(base_id, requirements)
        tag = self.tag(key)
        if tag in self.built:
            self.cache.used(key)
            return BuiltImage(tag, self.built[tag], key, built=False, seconds=0.0)
        on_build()
        for line in requirements.lines:
            say(f"Collecting {line}")
            if "floe-fails" in line:
                say(f"ERROR: No matching distribution found for {line}")
                raise BuildFailed(
                    "the requirements did not install (pip exited 1):\n"
                    f"ERROR: No matching distribution found for {line}"
                )
            while "floe-slow" in line and not self.release.wait(0.05):
                if cancelled():
                    raise BuildStopped("the job was stopped while its environment was building")
        with self._guard:
            self.built[tag], self.keys[tag] = _id(key), key
            self.builds.append(key)
        self.cache.used(key)
        say("Successfully installed " + " ".join(requirements.lines))
        self.prune()
        return BuiltImage(tag, _id(key), key, built=True, seconds=0.0)

    def describe(self, image: str, steps: list[Requirements]) -> dict:
        on_node = True
        for requirements in steps:
            image = self.tag(build_key(self.image_id(image) or "", requirements))
            on_node = on_node and image in self.built
        return {
            "on_node": on_node,
            "image": image,
            "size_bytes": 1000 * (1 + len(steps)) if on_node else None,
            "last_used": time.time() if steps and on_node else None,
        }
