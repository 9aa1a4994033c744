"""Environments: requirements normalised into one key, and the images built from a base plus
requirements once per key (in a fenced, limited Floe container; no setuid file left), cached,
made by people (``owner/name:N``) and built off the request path."""
