"""Importing an optional dependency of the ``export`` extra, or saying how to install it."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(name: str, purpose: str) -> ModuleType:
    """Import ``name``, or raise an :class:`ImportError` naming the extra that provides it."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise ImportError(
            f"{purpose} needs the '{name}' package: pip install 'stgcn-reid[export]'"
        ) from err
