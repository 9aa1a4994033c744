"""Pushing an image this machine built to Floe's own registry, where a cluster's other
machines pull it (``hub_config.registry`` runs the registry; ``docs/deploy.md``)."""

from __future__ import annotations

import docker

USER = "floe"


def credentials(password: str) -> dict[str, str]:
    """What the Docker API is given to push to, or pull from, Floe's registry."""
    return {"username": USER, "password": password}


def pushed_name(image: str, registry: str) -> str:
    """What ``image`` (``name:tag``, or ``name`` for ``:latest``) is called in ``registry``
    (``HOST:PORT``)."""
    return f"{registry}/{image if ':' in image.rsplit('/', 1)[-1] else image + ':latest'}"


def push(
    image: str, registry: str, password: str, client: docker.DockerClient | None = None
) -> str:
    """Tag ``image`` into ``registry`` and push it there; the name machines pull it by,
    ``HOST:PORT/name:tag@sha256:…`` (by its digest: exactly what was pushed)."""
    client = client or docker.from_env()
    target = pushed_name(image, registry)
    repository, _, tag = target.rpartition(":")
    client.images.get(image).tag(repository, tag)
    pushing = client.api.push(
        repository, tag=tag, stream=True, decode=True, auth_config=credentials(password)
    )
    digest = ""
    for line in pushing:
        if "error" in line:
            raise RuntimeError(f"pushing {image} to {registry}: {line['error']}")
        digest = (line.get("aux") or {}).get("Digest", digest)
    return f"{target}@{digest}" if digest else target
