"""Text a user chose (file names, messages), made safe to print on a terminal or in a log, or to
show others (credentials in URLs masked)."""

from __future__ import annotations

import re


def printable(text: str) -> str:
    """``text`` with control and other unprintable characters written as escapes (``\\x1b``),
    so a file name cannot move the cursor, clear the screen or hide itself."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


# A URL in free text (a requirements line, a log line): its scheme, then up to whitespace or quotes.
_URL = re.compile(r"""\b([a-z][a-z0-9+.-]*://)([^\s'"<>]*)""", re.IGNORECASE)
# Query parameters whose value is a credential, by what their name holds (X-Amz-Signature,
# private_token, apikey, client_secret, auth, ...).
_SECRET_PARAM = re.compile(r"token|key|pass|pwd|secret|sig|auth|credential", re.IGNORECASE)
_MASK = "***"


def without_secrets(text: str) -> str:
    """``text`` with the credentials in its URLs masked: any userinfo (``https://TOKEN@host``,
    ``user:password@``) and the values of query parameters named like credentials
    (``?token=``, ``&X-Amz-Signature=``). For showing or keeping requirements, provenance and
    build logs; what pip reads stays the unmasked text."""
    return _URL.sub(lambda m: m[1] + _masked_rest(m[2]), text)


def _masked_rest(rest: str) -> str:
    end = next((i for i, c in enumerate(rest) if c in "/?#"), len(rest))
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        authority = _MASK + authority[authority.rindex("@") :]
    # Parameters may come in the query, the fragment or a path's ;params: each masked alike.
    return authority + _PARAMS.sub(lambda m: _masked_param(m[0]), tail)


_PARAMS = re.compile(r"[^?#&;/]+=[^?#&;]*")


def _masked_param(param: str) -> str:
    name, equals, _value = param.partition("=")
    return f"{name}={_MASK}" if equals and _SECRET_PARAM.search(name) else param
