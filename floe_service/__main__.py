"""``python -m floe_service``: run the floe service (``--help-all`` lists its settings)."""

from .app import main

main()
