"""HTML pages of the floe service: datasets, their versions, a version's files."""

from __future__ import annotations

from tornado import web

from dataset_mounter import datasets as ds
from dataset_mounter.keep import load_tree
from floe.core.access import sections
from floe.core.refs import DatasetRef, parse_number

from .handlers import PageHandler


class DatasetsPage(PageHandler):
    @web.authenticated
    def get(self) -> None:
        found = ds.visible_datasets(self.db(), self.caller)
        self.render_page("datasets.html", datasets=found, sections=sections(self.caller, found))


class DatasetPage(PageHandler):
    @web.authenticated
    def get(self, owner: str, name: str) -> None:
        dataset = ds.get_dataset(self.db(), self.caller, owner, name)
        self.render_page(
            "dataset.html",
            dataset=dataset,
            shared_with=self.shared_with(dataset),
            share_hint=f"floe data share {dataset.full_name} USER_OR_TEAM",
        )


class VersionPage(PageHandler):
    @web.authenticated
    def get(self, owner: str, name: str, number: str) -> None:
        db = self.db()
        ref = DatasetRef(owner, name, parse_number(number, "version"))
        dataset, version = ds.resolve(db, self.caller, ref)
        tree = load_tree(db, version.tree_digest)
        self.render_page("version.html", dataset=dataset, version=version, files=tree.entries)


def routes(prefix: str) -> list[tuple]:
    return [
        (prefix, DatasetsPage),
        (prefix + r"datasets/?", DatasetsPage),
        (prefix + r"datasets/([^/]+)/([^/]+)/?", DatasetPage),
        (prefix + r"datasets/([^/]+)/([^/]+)/([^/]+)/?", VersionPage),
    ]
