"""An environment builder for the fast tier: images are names in a dict, builds act out their
requirements.

The key, tags and every decision around them are the real builder's (``build_key``, ``tag``);
only the engine is missing. A requirement naming ``floe-fails`` fails as pip would, one
naming ``floe-slow`` builds until ``FakeBuilder.release`` is set (or the job is stopped).
Plain images (the catalog's) all exist.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

from environments.requirements import Requirements
from spawner.environment_builder import (
    BuildFailed,
    BuildStopped,
    BuiltImage,
    EnvironmentBuilder,
    build_key,
)


def _id(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class FakeBuilder(EnvironmentBuilder):
    built: dict[str, str] = {}  # tag -> id, for all instances
    builds: list[str] = []  # every key built, in order
    release = threading.Event()
    _guard = threading.Lock()

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
            self.built[tag] = _id(key)
            self.builds.append(key)
        say("Successfully installed " + " ".join(requirements.lines))
        return BuiltImage(tag, self.built[tag], key, built=True, seconds=0.0)

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
