"""The home of a workspace: its disk made ready before the container starts, filled from the
image (and an old home volume) when new, released when the user's last workspace stops,
removed with the user.

A part of ``WorkspaceSpawner`` (``spawner.home_disks`` does the disk itself); it uses the
spawner's ``home_disks``, ``home_volume_template``, ``docker``, ``_blocking`` and ``_report``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import docker
from tornado import web

from containers.spec import CONTAINER_HOME

from .home_disks import HomeDisk, HomeDiskError, fill_home

# The most of an image's home copied into a new one (dotfiles, a sample notebook...).
IMAGE_HOME_MAX = 64 * 1024**2


class WorkspaceHome:
    """The home disk's part of a workspace spawner (a DockerSpawner with ``home_disks``)."""

    @property
    def home_name(self) -> str:
        """The user's home disk's name on the node: their escaped name, or for a long one a
        hash of their name after "long." (escaped names have no "."; no two users share one)."""
        name = self.escaped_name
        if len(name) > 120:
            name = "long." + hashlib.sha256(self.user.name.encode()).hexdigest()
        return name

    async def _prepare_home(self) -> HomeDisk:
        try:
            disk = await self._blocking(self.home_disks.prepare, self.home_name)
        except (HomeDiskError, OSError) as err:
            message = f"the workspace's home could not be made ready: {err}"
            raise web.HTTPError(500, message) from err
        if disk.fresh:  # no container has seen it yet
            await self._adopt_home_volume()
            await self._fill_home_from_image(disk)
        self._report(25, disk.summary())
        return disk

    async def _fill_home_from_image(self, disk: HomeDisk) -> None:
        """A new home starts with what the image keeps in its home (.bashrc, .profile, …),
        as a Docker volume would have started."""
        try:
            made = await self.docker("create_container", image=self.image, user="0")
        except docker.errors.APIError as err:
            self.log.warning("%s: home not filled from %s: %s", self.user.name, self.image, err)
            return
        try:
            stream, _stat = await self.docker("get_archive", made["Id"], CONTAINER_HOME + "/.")
            archive = bytearray()
            for chunk in stream:
                archive += chunk
                if len(archive) > IMAGE_HOME_MAX:
                    raise HomeDiskError(f"the image's home is over {IMAGE_HOME_MAX} bytes")
            await self._blocking(fill_home, disk.home, bytes(archive))
        except (docker.errors.APIError, HomeDiskError, OSError) as err:
            self.log.warning("%s: home not filled from %s: %s", self.user.name, self.image, err)
        finally:
            await self.docker("remove_container", made["Id"], force=True)

    async def _adopt_home_volume(self) -> None:
        """Move the files of the Docker volume that was the home before disks into a new
        disk's work/ folder, whole or not at all; the volume goes once they are moved."""
        name = self.home_volume_name
        try:
            volume = await self.docker("inspect_volume", name)
        except docker.errors.NotFound:
            return
        self._report(22, f"Moving your files from the Docker volume {name} into your home")
        try:
            await self._blocking(self.home_disks.adopt, self.home_name, Path(volume["Mountpoint"]))
        except HomeDiskError as err:
            self._report(22, f"Your files in the Docker volume {name} stay there ({err})")
            self.log.warning("%s: volume %s not moved: %s", self.user.name, name, err)
            return
        try:
            await self.docker("remove_volume", name)
        except docker.errors.APIError as err:
            self.log.warning("%s: volume %s moved but not removed: %s", self.user.name, name, err)

    async def _release_home(self) -> None:
        """Unmount the home disk once no workspace container of this user is left."""
        left = await self.docker(
            "containers",
            all=True,
            filters={"label": ["floe.kind=workspace", f"floe.user={self.user.name}"]},
        )
        if any(n.startswith(f"/{self.prefix}-") for c in left for n in c.get("Names", [])):
            return
        try:
            await self._blocking(self.home_disks.release, self.home_name)
        except HomeDiskError as err:  # it stays mounted; the next start uses it as it is
            self.log.warning("%s: %s", self.user.name, err)

    @property
    def home_volume_name(self) -> str:
        return self._render_templates(self.home_volume_template)

    async def delete_forever(self) -> None:
        """The user is being deleted: remove their home disk (and any old home volume) too."""
        await self._blocking(self.home_disks.remove, self.home_name)
        try:
            await self.docker("remove_volume", self.home_volume_name, force=True)
        except docker.errors.NotFound:
            pass
