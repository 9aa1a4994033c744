"""Floe's foundation, shared by the laptop and the platform: ``core`` (the words: errors, names,
sizes, access rules), ``trees`` (folders as manifests), ``client`` (the REST client) and ``db``
(every table). Nothing here imports any other of Floe's packages."""
