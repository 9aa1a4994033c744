"""The settings a Docker Swarm's users share (``c.SwarmCluster``): which manager, where each
machine type may run, Floe's volume plugin and registry; and an image this machine built
pushed to that registry, once per image id, for whichever node Swarm picks to pull.

Jobs (``swarm.backend.SwarmBackend``) and workspaces
(``swarm.workspaces.SwarmWorkspaceSpawner``) both inherit it, so one setting serves
both; ``c.SwarmBackend.*`` keeps working for jobs alone.
"""

from __future__ import annotations

import os
import threading
import weakref
from pathlib import Path
from typing import ClassVar

import docker
from traitlets import Dict, Integer, List, Unicode, default
from traitlets.config import LoggingConfigurable

from environments.image_registry import USER, push


class SwarmCluster(LoggingConfigurable):
    """A swarm, as Floe's services see it."""

    manager_url = Unicode(
        "",
        config=True,
        help="""Docker API of a Swarm manager (unix:///var/run/docker.sock, tcp://HOST:2376);
        empty: DOCKER_HOST, or this machine's engine.""",
    )
    timeout = Integer(
        120, config=True, help="Seconds a call to the manager may take before it fails."
    )
    constraints = List(
        Unicode(),
        config=True,
        help="""Placement constraints every job's and workspace's task gets, in Swarm's words,
        e.g. ['node.labels.floe==true'].""",
    )
    machine_constraints = Dict(
        value_trait=List(Unicode()),
        config=True,
        help="""More constraints by machine type slug, e.g. {'gpu-large':
        ['node.labels.gpu==a100']}: where each type of machine is.""",
    )
    volume_driver = Unicode(
        "",
        config=True,
        help="""The driver name of Floe's volume plugin on every node ('floe' for its default
        socket /run/docker/plugins/floe.sock): datasets are then laid out on the node a
        container lands on (and jobs send their log and /output back), so machines need share
        nothing. Empty: containers mount this machine's paths, which every node must share.""",
    )
    registry = Unicode(
        config=True,
        help="""HOST:PORT of Floe's registry as the nodes reach it (default: FLOE_REGISTRY):
        each image, built on this machine, is pushed there and the node Swarm picks pulls it
        (the manager hands the nodes the registry's credentials with the task). Empty: every
        node must have the images already.""",
    )
    push_registry = Unicode(
        "",
        config=True,
        help="""HOST:PORT this machine pushes to, where it reaches the same registry by another
        address (e.g. 127.0.0.1:5000, which Docker trusts without TLS); empty: registry.""",
    )
    registry_password_file = Unicode(
        config=True,
        help="The registry's password file (default: registry_password in FLOE_DATA_DIR).",
    )

    @default("registry")
    def _default_registry(self) -> str:
        return os.environ.get("FLOE_REGISTRY", "")

    @default("registry_password_file")
    def _default_password_file(self) -> str:
        data = os.environ.get("FLOE_DATA_DIR", "")
        return str(Path(data) / "registry_password") if data else ""

    # (registry, image id) -> its name there: one push per image per process, whoever asks.
    _published: ClassVar[dict[tuple[str, str], str]] = {}
    _publishing: ClassVar[threading.Lock] = threading.Lock()
    _pushing: ClassVar[dict[tuple[str, str], threading.Lock]] = {}  # one lock per image
    _local: ClassVar[docker.DockerClient | None] = None
    _logged_in: ClassVar[weakref.WeakSet] = weakref.WeakSet()  # manager clients

    def manager_client(self) -> docker.APIClient:
        """A new client of the manager's Docker API."""
        if self.manager_url:
            return docker.APIClient(base_url=self.manager_url, timeout=self.timeout)
        return docker.from_env(timeout=self.timeout).api

    def placement(self, machine: str) -> list[str]:
        """Where a container of machine type ``machine`` may run, in Swarm's words."""
        return [*self.constraints, *self.machine_constraints.get(machine, [])]

    def builds(self) -> docker.DockerClient:
        """This machine's engine, where Floe builds and keeps images."""
        cls = SwarmCluster
        if cls._local is None:
            cls._local = docker.from_env(timeout=self.timeout)
        return cls._local

    def image_digest(self, image: str) -> str:
        return self.builds().api.inspect_image(image)["Id"]

    def published_image(self, image: str, manager: docker.APIClient) -> str:
        """``image`` pushed to the registry (once per image id); what nodes pull, by digest,
        so a tag moved meanwhile or a registry down never runs another image. ``manager``
        is logged in, so it hands the registry's credentials to the node with the task.
        Blocking: call it off the event loop."""
        image_id = self.image_digest(image)
        key = (self.registry, image_id)
        password = self._registry_password()
        known = self._published.get(key)
        if not known:
            with self._publishing:
                lock = self._pushing.setdefault(key, threading.Lock())
            with lock:  # one push of an image at a time; the others then reuse it
                known = self._published.get(key) or self._push(image, image_id, password)
                self._published[key] = known
        if manager not in self._logged_in:
            manager.login(USER, password=password, registry=self.registry, reauth=True)
            with self._publishing:
                self._logged_in.add(manager)
        return known

    def _push(self, image: str, image_id: str, password: str) -> str:
        # A name of this process's own: the hub and the floe service may push one image at
        # once, and each takes its names off again.
        named = f"floe/node-image:{image_id.removeprefix('sha256:')[:24]}-{os.getpid()}"
        self.builds().images.get(image_id).tag(named)
        target = self.push_registry or self.registry
        pushed = push(named, target, password, self.builds())
        self._untag(image_id, (pushed.split("@")[0], named))
        known = self.registry + pushed.removeprefix(target)
        self.log.info("swarm: %s pushed as %s", image, known)
        return known

    def _registry_password(self) -> str:
        try:
            return Path(self.registry_password_file).read_text().strip()
        except OSError:
            raise RuntimeError(
                "Floe's registry password cannot be read: an admin sets "
                "c.SwarmCluster.registry_password_file (or FLOE_DATA_DIR)"
            ) from None

    def _untag(self, image_id: str, tags: tuple[str, ...]) -> None:
        """Take the names pushing added off this machine's image (so the environment cache
        can still prune it), never its last name: that would remove the image."""
        for tag in tags:
            try:
                if len(self.builds().images.get(image_id).tags) > 1:
                    self.builds().images.remove(tag)
            except docker.errors.APIError as err:
                self.log.info("swarm: could not untag %s: %s", tag, err)
