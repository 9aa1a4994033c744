"""The ``floe`` command line: one module per group of verbs (``login``, ``data``, ``jobs``,
``catalog``), assembled by ``main``; each verb gets a logged-in client (``verbs``)."""
