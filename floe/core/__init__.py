"""Floe's foundation: errors, the names users write, sizes, access rules. Standard library only."""
