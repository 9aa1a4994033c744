"""The pages' Jinja templates (``templates/``), with the filters they share."""

from __future__ import annotations

from datetime import datetime

from jinja2 import Environment, PackageLoader, select_autoescape

from floe.core.sizes import format_size


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


_templates = Environment(
    loader=PackageLoader("floe_service", "templates"), autoescape=select_autoescape(["html"])
)
_templates.filters["size"] = format_size
_templates.filters["when"] = _when


def render(name: str, **context: object) -> str:
    return _templates.get_template(name).render(hub_prefix="/hub/", **context)
