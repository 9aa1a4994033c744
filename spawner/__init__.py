"""Workspaces: the JupyterHub spawner, its home disks, GPUs held, spawn form and readiness."""
