"""The model zoo: each model a short composition of core parts, registered by name.

Every module in this package is imported, so a new model file registers itself; the registry is the list.
"""

import pkgutil
from importlib import import_module

from ..registry import MODELS

for _info in pkgutil.iter_modules(__path__):
    import_module(f"{__name__}.{_info.name}")

__all__ = ["MODELS"]
