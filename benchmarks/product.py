"""The product under measurement, looked up by name: the bench runs this tree and an earlier revision
side by side, and the revision's modules lived elsewhere (one flat package, before the layer's rooms)."""

from __future__ import annotations

import importlib
from typing import Any

# Each name's home in this tree first, then in the flat layout of earlier revisions.
_HOMES: dict[str, tuple[str, ...]] = {
    "aws": ("zoho_aep.adapters.aws", "zoho_aep.aws"),
    "LinkState": ("zoho_aep.domain.links:LinkState", "zoho_aep.links:LinkState"),
    "load_settings": ("zoho_aep.config.settings:load_settings", "zoho_aep.config:load_settings"),
}


def get(name: str) -> Any:
    """The product's module or object ``name`` (a key of ``_HOMES``), wherever this revision keeps it."""
    for home in _HOMES[name]:
        module, _, attribute = home.partition(":")
        try:
            found = importlib.import_module(module)
        except ImportError:
            continue
        return getattr(found, attribute) if attribute else found
    raise ImportError(f"no home of {name} in this revision of zoho_aep: {_HOMES[name]}")
