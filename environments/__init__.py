"""Environments: images built from an environment plus requirements, once per key."""
