"""The spawn form: environments, machine types (with the GPUs free now), and the dataset
versions the user may mount; a Jinja template (``templates/options_form.html``)."""

from __future__ import annotations

import jinja2
from sqlalchemy.orm import sessionmaker

from containers.catalog import Catalog, Environment
from dataset_mounter.datasets import visible_datasets
from environments.custom import usable_environments
from floe.core.access import Caller, sections

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("spawner", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
)


def dataset_choices(sessions: sessionmaker, caller: Caller) -> list[tuple[str, list[str]]]:
    """``owner/name:N`` of every version ``caller`` may mount, newest first, under the
    headings of the datasets page: mine, each team's, shared with me, public."""
    with sessions() as db:
        found = visible_datasets(db, caller)
        return [
            (title, [f"{d.full_name}:{v.number}" for d in datasets for v in reversed(d.versions)])
            for title, datasets in sections(caller, found)
            if any(d.versions for d in datasets)
        ]


def environment_choices(
    sessions: sessionmaker, catalog: Catalog, caller: Caller
) -> list[Environment]:
    """The catalog's environments, then the made ones ``caller`` may use that are built."""
    with sessions() as db:
        return usable_environments(db, catalog, caller)


def render_options_form(
    catalog: Catalog,
    caller: Caller,
    environments: list[Environment],
    previous: dict,
    dataset_versions: list[tuple[str, list[str]]],
    gpus_free: int,
    gpus_total: int,
) -> str:
    """The form, with the user's previous choices (``user_options``) picked again while they
    are still offered; the machine types ``caller`` may use (a team's to its members)."""
    machines = catalog.machines_for(caller)
    environment = previous.get("environment")
    if environment not in {e.slug for e in environments}:
        environment = catalog.default_environment().slug
    machine = previous.get("machine")
    if machine not in {m.slug for m in machines}:
        machine = catalog.default_machine().slug
    return _templates.get_template("options_form.html").render(
        environments=environments,
        machines=machines,
        chosen_environment=environment,
        chosen_machine=machine,
        dataset_versions=dataset_versions,
        gpus_free=gpus_free,
        gpus_total=gpus_total,
    )
