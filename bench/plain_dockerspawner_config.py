# The benchmark's baseline: Floe's hub exactly as configured, but with plain DockerSpawner
# starting the same workspace image (no options, no machine limits, no GPU allocator).
import os

from containers.catalog import WORKSPACE_IMAGE

load_subconfig(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "jupyterhub_config.py")
)

c.JupyterHub.spawner_class = "dockerspawner.DockerSpawner"
c.DockerSpawner.image = WORKSPACE_IMAGE
c.DockerSpawner.remove = True
