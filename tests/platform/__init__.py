"""The real platform: a real hub and proxy, Docker containers, S3, PostgreSQL, a second engine."""
