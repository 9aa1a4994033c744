"""Floe's service (REST API and pages), its command line, and what they share."""
