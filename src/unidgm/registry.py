"""Name → builder registries. Models register by decorator; the CLI lists and explains from here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .errors import ConfigError, did_you_mean


@dataclass(frozen=True)
class Entry:
    name: str
    build: Callable
    config: type
    family: str
    summary: str


class Registry:
    def __init__(self, kind: str):
        self.kind, self._entries = kind, {}

    def register(self, name: str, *, config: type, family: str, summary: str = ""):
        def deco(fn):
            if name in self._entries:
                raise RuntimeError(f"{self.kind} {name!r} registered twice")
            self._entries[name] = Entry(name, fn, config, family, summary or (fn.__doc__ or "").strip().split("\n")[0])
            return fn
        return deco

    def get(self, name: str) -> Entry:
        if name not in self._entries:
            raise ConfigError(f"unknown {self.kind} {name!r}." + did_you_mean(name, self._entries))
        return self._entries[name]

    def names(self) -> list[str]:
        """Sorted: every file of a package registers itself, so the import order says nothing."""
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries


MODELS = Registry("model")
register_model = MODELS.register
