"""Chromium through Playwright against the real hub: what a user clicks."""
