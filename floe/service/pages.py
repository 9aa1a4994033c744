"""HTML pages of the floe service: datasets, their versions, a version's files."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, select_autoescape
from tornado import web

from dataset_mounter import datasets as ds
from floe.names import DatasetRef
from floe.sizes import human_size

from .handlers import BaseHandler

_templates = Environment(
    loader=PackageLoader("floe.service", "templates"), autoescape=select_autoescape(["html"])
)


_templates.filters["size"] = human_size


class PageHandler(BaseHandler):
    def render_page(self, name: str, **context: object) -> None:
        prefix = self.settings["service_prefix"]
        self.finish(
            _templates.get_template(name).render(
                prefix=prefix, user=self.caller, hub_prefix="/hub/", **context
            )
        )


class DatasetsPage(PageHandler):
    @web.authenticated
    def get(self) -> None:
        self.render_page("datasets.html", datasets=ds.visible_datasets(self.db(), self.caller))


class DatasetPage(PageHandler):
    @web.authenticated
    def get(self, owner: str, name: str) -> None:
        dataset = ds.get_dataset(self.db(), self.caller, owner, name)
        self.render_page("dataset.html", dataset=dataset)


class VersionPage(PageHandler):
    @web.authenticated
    def get(self, owner: str, name: str, number: str) -> None:
        db = self.db()
        dataset, version = ds.resolve(db, self.caller, DatasetRef(owner, name, int(number)))
        tree = ds.load_tree(db, version.tree_digest)
        self.render_page("version.html", dataset=dataset, version=version, files=tree.entries)


def routes(prefix: str) -> list[tuple]:
    return [
        (prefix, DatasetsPage),
        (prefix + r"datasets/?", DatasetsPage),
        (prefix + r"datasets/([^/]+)/([^/]+)/?", DatasetPage),
        (prefix + r"datasets/([^/]+)/([^/]+)/(\d+)/?", VersionPage),
    ]
