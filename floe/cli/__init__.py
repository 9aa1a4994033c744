"""The ``floe`` command line: talks to the floe service's REST API with a hub API token."""
