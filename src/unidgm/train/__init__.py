"""Training: the one loop, checkpoints, run folders, streams, distributed helpers.

``unidgm.train`` is this package; the function that trains a model is ``unidgm.fit(...)``. Calling
``unidgm.train(...)`` — the name earlier READMEs used — still works, with a DeprecationWarning.
"""

import sys as _sys
import types as _types
import warnings as _warnings


class _DeprecatedCall(_types.ModuleType):
    """The package, callable only as the deprecated alias of :func:`unidgm.fit` (to be removed)."""

    def __call__(self, *args, **kwargs):
        _warnings.warn("unidgm.train(...) is deprecated: call unidgm.fit(...) (unidgm.train is the training "
                       "package)", DeprecationWarning, stacklevel=2)
        from ..api import train
        return train(*args, **kwargs)


_sys.modules[__name__].__class__ = _DeprecatedCall
