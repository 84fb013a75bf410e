"""Training: the one loop, checkpoints, run folders, streams, distributed helpers."""

import sys as _sys
import types as _types


class _CallablePackage(_types.ModuleType):
    """``unidgm.train`` names both this package and the API function ``unidgm.train(...)``: importing any
    ``unidgm.train.*`` module rebinds the attribute ``unidgm.train`` to this package, so calling the package
    forwards to :func:`unidgm.api.train` and ``unidgm.train(...)`` works however often it is called."""

    def __call__(self, *args, **kwargs):
        from ..api import train
        return train(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallablePackage
