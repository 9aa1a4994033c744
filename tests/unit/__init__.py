"""Pure tests: no process, server, engine or device; seconds."""
