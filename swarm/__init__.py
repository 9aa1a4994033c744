"""Floe on a Docker Swarm: the cluster (manager, placement, Floe's registry), a Floe container as
a Swarm service of one task, and the workspaces and jobs that run that way."""
