"""Tiny wheels made on the spot, so requirements install without the package index."""

from __future__ import annotations

import io
import zipfile


def make_wheel(package: str, source: str) -> tuple[str, bytes]:
    """A pure-Python wheel of ``package`` whose ``__init__.py`` is ``source``."""
    info = f"{package}-1.0.dist-info"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        wheel.writestr(f"{package}/__init__.py", source)
        wheel.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n"
        )
        wheel.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: floe-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        wheel.writestr(
            f"{info}/RECORD",
            f"{package}/__init__.py,,\n{info}/METADATA,,\n{info}/WHEEL,,\n{info}/RECORD,,\n",
        )
    return f"{package}-1.0-py3-none-any.whl", buffer.getvalue()
