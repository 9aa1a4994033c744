"""Workspaces: the spawner, and what it shares with the job runner (the catalog of environments
and machine types, GPUs, the one container-spec builder, spawn options)."""
