"""Loading a function's ``app.py`` the way Lambda does: a fresh module, so every load is a cold start."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ROOT / "functions"


def function_path(name: str) -> Path:
    return FUNCTIONS / name / "app.py"


def load_function(name: str) -> ModuleType:
    """Import ``functions/<name>/app.py`` under a new module name (its module code runs again)."""
    path = function_path(name)
    spec = importlib.util.spec_from_file_location(f"lambda_{name}_{uuid.uuid4().hex}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
