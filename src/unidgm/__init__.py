"""unidgm: GANs, VAEs, wake-sleep and their hybrids from one formulation (Hu et al., ICLR 2018).

Python API: ``unidgm.fit``, ``unidgm.resume``, ``unidgm.load``, ``unidgm.build_model``,
``unidgm.get_dataset``, ``unidgm.dataset`` (a run's own data); the CLI is ``unidgm`` (see ``unidgm --help``).
"""

__version__ = "0.1.0"

_API = {"resume", "load", "build_model", "resolve", "dataset", "Run", "Settings"}


def __getattr__(name):  # lazy: `import unidgm` stays cheap; torch loads on first use
    if name == "fit":  # train a model: api.train (``unidgm.train`` is the training package)
        from .api import train
        return train
    if name in _API:
        from . import api
        return getattr(api, name)
    if name == "get_dataset":
        from .data import get_dataset
        return get_dataset
    import importlib
    try:  # submodules by attribute, as the README writes them: unidgm.api.resume(RUN) after `import unidgm`
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module 'unidgm' has no attribute {name!r}")
