"""The model zoo: each model a short composition of core parts, registered by name."""

from importlib import import_module

from ..registry import MODELS

ZOO = ("gan", "cgan", "acgan", "infogan", "vae", "cvae", "iwae", "svae", "wake_sleep", "aae", "vaegan",
       "bigan", "ada", "cyclegan", "avb")

for _name in ZOO:
    try:
        import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as e:  # a model still being written must not break the others
        if e.name != f"{__name__}.{_name}":
            raise

__all__ = ["MODELS", "ZOO"]
