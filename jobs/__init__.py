"""Jobs: tracked, headless runs of a notebook or a command, with logs, metrics and output."""
