"""Parameters for notebook jobs: checked names, values injected as JSON, never pasted source.

The injected cell goes right after the cell tagged ``parameters`` (papermill's convention) and
reads each value with ``json.loads`` of a string literal, so no value can become code.
"""

from __future__ import annotations

import json
import keyword

INJECTED_TAG = "injected-parameters"


# Parameters are copied into every job of a task and into its notebook: small values only.
MAX_PARAMETERS_BYTES = 64 * 1024


def check_parameters(parameters: object) -> dict:
    """Return ``parameters`` if it is a JSON object whose keys are Python names, else raise."""
    if not isinstance(parameters, dict):
        raise ValueError("'parameters' must be a JSON object like {\"lr\": 0.1}")
    for name in parameters:
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise ValueError(f"parameter {name!r} is not a Python variable name")
        if name.startswith("_floe"):
            raise ValueError(f"parameter {name!r}: names starting with _floe are Floe's own")
    size = len(json.dumps(parameters))  # must be plain JSON values
    if size > MAX_PARAMETERS_BYTES:
        raise ValueError(
            f"'parameters' take {size} bytes as JSON; at most {MAX_PARAMETERS_BYTES} "
            "(pass data as a dataset, not a parameter)"
        )
    return parameters


def parameter_source(parameters: dict) -> str:
    lines = ["# Parameters injected by Floe", "import json as _floe_json"]
    for name, value in parameters.items():
        lines.append(f"{name} = _floe_json.loads({json.dumps(value)!r})")
    lines.append("del _floe_json")
    return "\n".join(lines)


def _tags(cell: dict) -> list:
    return cell.get("metadata", {}).get("tags", [])


def inject_parameters(notebook: dict, parameters: dict) -> dict:
    """Put a parameters cell after the one tagged ``parameters`` (or first); returns notebook."""
    check_parameters(parameters)
    cells = [c for c in notebook["cells"] if INJECTED_TAG not in _tags(c)]
    if parameters:
        where = next((i + 1 for i, c in enumerate(cells) if "parameters" in _tags(c)), 0)
        cells.insert(
            where,
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "floe-injected-parameters",
                "metadata": {"tags": [INJECTED_TAG]},
                "outputs": [],
                "source": parameter_source(parameters),
            },
        )
    notebook["cells"] = cells
    return notebook


def is_injected(cell: dict) -> bool:
    return INJECTED_TAG in _tags(cell)
