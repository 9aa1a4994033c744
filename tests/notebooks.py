"""Small notebooks (nbformat 4 JSON) for tests and benchmarks."""

from __future__ import annotations


def notebook(*sources: str, parameters: str | None = None) -> dict:
    """A Python notebook of code cells; ``parameters`` becomes a first cell tagged so."""
    cells = []
    if parameters is not None:
        cells.append(code_cell(parameters, tags=["parameters"]))
    cells += [code_cell(s) for s in sources]
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "cells": cells,
    }


def code_cell(source: str, tags: list[str] | None = None) -> dict:
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": tags or []},
        "outputs": [],
        "source": source,
    }
