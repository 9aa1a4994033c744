# JupyterHub configuration for Floe. The settings live in hub_config/, one file per concern.
# Deployer overrides go in $FLOE_DATA_DIR/jupyterhub_config.local.py (loaded last).
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hub_config.configure import configure, finish  # noqa: E402

settings = configure(c)

if settings.local_config_file.exists():
    load_subconfig(str(settings.local_config_file))

# Floe's admin account made a Floe admin (with Floe's login only), and a setting Floe cannot
# honour (or has renamed) stops the hub here, named, not ignored.
finish(c)
