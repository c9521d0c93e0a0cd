"""Public names loaded on first use: a package's ``__init__`` names where each lives.

::

    __getattr__, __dir__ = lazy_exports(__name__, {"Runtime": "npc_ai.runtime.runtime"})

A name's module is imported the first time the name is read, then the value is kept in the
package's namespace, so later reads are plain attribute look-ups.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, homes: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module ``__getattr__`` and ``__dir__`` for ``package``; ``homes`` maps each public
    name to its module (absolute, or relative to the package when it has no dot)."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = home if "." in home else f"{package}.{home}"
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # the next look-up is a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *homes})

    return __getattr__, __dir__
