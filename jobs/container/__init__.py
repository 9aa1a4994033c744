"""Programs that run inside a job container (mounted read-only at /opt/floe-runner).

They use nothing but Python's standard library and what a Jupyter image has (nbformat,
nbclient), so any environment image with Python can run Floe jobs.
"""
