"""Floe's hub configuration, one small file per concern; ``configure.configure(c)`` applies them.

``settings`` (where an instance keeps its state, its ports) is read by the floe service too.
"""
