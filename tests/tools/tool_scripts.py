"""Load a script from ``tools/`` as a module, for in-process runs of its functions and ``main``."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def load_tool(name: str) -> ModuleType:
    """``tools/<name>.py`` executed as a fresh module named ``<name>_script``."""
    spec = importlib.util.spec_from_file_location(f"{name}_script", TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
