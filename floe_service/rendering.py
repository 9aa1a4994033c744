"""The pages' Jinja templates (``templates/``), with the filters they share."""

from __future__ import annotations

from datetime import datetime

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from floe.core.sizes import format_size
from floe.core.times import rfc3339, utc


def _when(value: datetime | None, seconds: bool = True) -> Markup | str:
    """A stored time on a page: read by people in UTC, by machines as RFC 3339."""
    if not value:
        return ""
    shown = utc(value).strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")
    return Markup('<time datetime="{}">{}</time>').format(rfc3339(value), shown)


_templates = Environment(
    loader=PackageLoader("floe_service", "templates"), autoescape=select_autoescape(["html"])
)
_templates.filters["size"] = format_size
_templates.filters["when"] = _when


def render(name: str, **context: object) -> str:
    return _templates.get_template(name).render(hub_prefix="/hub/", **context)
