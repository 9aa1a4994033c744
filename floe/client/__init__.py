"""Floe from Python: the REST client, moving folders as trees, the login a laptop keeps.

What the ``floe`` command, the workspace extension and the benchmarks build on; like the
command line it needs only ``requests`` (``pip install floe``).
"""
