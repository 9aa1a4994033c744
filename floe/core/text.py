"""Text a user chose (file names, messages), made safe to print on a terminal or in a log."""

from __future__ import annotations


def printable(text: str) -> str:
    """``text`` with control and other unprintable characters written as escapes (``\\x1b``),
    so a file name cannot move the cursor, clear the screen or hide itself."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
