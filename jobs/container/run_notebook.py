"""Run a notebook headless inside a job container, printing each cell's output as it comes.

``python run_notebook.py NOTEBOOK OUTPUT_NOTEBOOK`` with ``FLOE_PARAMETERS`` (JSON) in the
environment. Each code cell starts with a ``[cell N]`` line (N counts the notebook's cells as
its author sees them); stream, result and error output follows as plain lines, so metric lines
(a JSON object alone on a line) printed by a cell reach the job's log untouched. The executed
notebook is written even when a cell fails; the reason goes to /floe-job/result.json.
"""

from __future__ import annotations

import json
import os
import re
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parameterize import inject_parameters, is_injected  # noqa: E402

RESULT = "/floe-job/result.json"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def say(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


class StreamingClient(NotebookClient):
    """nbclient, printing outputs to stdout as the kernel sends them."""

    current_cell = 0

    def process_message(self, msg: dict, cell: object, cell_index: int) -> object:
        kind = msg.get("msg_type") or msg["header"]["msg_type"]
        content = msg.get("content", {})
        if kind == "stream":
            sys.stdout.write(content.get("text", ""))
            sys.stdout.flush()
        elif kind in ("execute_result", "display_data"):
            text = content.get("data", {}).get("text/plain")
            if text:
                say(text)
        elif kind == "error":
            say(_ANSI.sub("", "\n".join(content.get("traceback", []))))
        return super().process_message(msg, cell, cell_index)


def main(source: str, target: str) -> int:
    notebook = nbformat.read(source, as_version=4)
    parameters = json.loads(os.environ.get("FLOE_PARAMETERS") or "{}")
    notebook = nbformat.from_dict(inject_parameters(notebook, parameters))
    numbers: dict[int, str] = {}
    shown = 0
    for index, cell in enumerate(notebook.cells):
        if is_injected(cell):
            numbers[index] = "parameters"
        else:
            shown += 1
            numbers[index] = str(shown)
    kernel = notebook.metadata.get("kernelspec", {}).get("name") or "python3"
    client = StreamingClient(
        notebook, timeout=None, kernel_name=kernel, resources={"metadata": {"path": "/code"}}
    )

    def on_cell_execute(cell: object, cell_index: int) -> None:
        client.current_cell = cell_index
        say(f"[cell {numbers[cell_index]}]")

    client.on_cell_execute = on_cell_execute
    reason = ""
    try:
        client.execute()
    except CellExecutionError as err:
        label = numbers.get(client.current_cell, "?")
        reason = f"cell {label} failed: {err.ename}: {err.evalue}"
    except DeadKernelError:
        label = numbers.get(client.current_cell, "?")
        reason = f"the kernel died in cell {label} (out of memory?)"
    finally:
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        nbformat.write(notebook, target)
    if reason:
        say(f"floe: {reason}")
        with open(RESULT, "w") as f:
            json.dump({"reason": reason}, f)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
