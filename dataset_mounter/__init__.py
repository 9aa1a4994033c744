"""Versioned datasets: trees over a content-addressed blob store, and read-only mounts."""
