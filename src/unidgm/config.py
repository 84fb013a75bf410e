"""Typed, validated configs that round-trip to JSON, and ``key=value`` overrides from the CLI.

Model, training and technique configs are separate dataclasses. Each field may carry a
``check`` in its metadata (a predicate and the rule it states); validation collects every bad
value and unknown key into one :class:`ConfigError` that names the closest valid key.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field, fields

from .errors import ConfigError, did_you_mean


def rule(default, check=None, why: str = "", help: str = ""):
    """A dataclass field with a validation predicate and a help line."""
    kw = {"default_factory": (lambda d=default: type(d)(d))} if isinstance(default, (list, dict, tuple)) else {"default": default}
    return field(metadata={"check": check, "why": why, "help": help}, **kw)


positive = (lambda v: v > 0, "must be > 0")
non_negative = (lambda v: v >= 0, "must be >= 0")
widths = (lambda v: all(h > 0 for h in v), "sizes must be > 0")  # MLP hidden layer sizes


def one_of(*choices):
    return (lambda v: v in choices, f"must be one of {', '.join(map(str, choices))}")


def checked(default, check_why=(None, ""), help: str = ""):
    return rule(default, check_why[0], check_why[1], help)


@dataclass
class Config:
    """Base: validation on construction, JSON round trip, typed overrides."""

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        errors = []
        for f in fields(self):
            value = getattr(self, f.name)
            check = f.metadata.get("check")
            if check is not None and value is not None and not _safe(check, value):
                errors.append(f"{f.name}={value!r} {f.metadata.get('why', 'is invalid')}")
        if errors:
            raise ConfigError(f"invalid {type(self).__name__}: " + "; ".join(errors))

    def to_dict(self) -> dict:
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict, where: str = "") -> "Config":
        names = {f.name for f in fields(cls)}
        unknown = [k for k in data if k not in names]
        if unknown:
            raise ConfigError(f"unknown {where or cls.__name__} key(s): "
                              + "; ".join(k + "." + did_you_mean(k, names) for k in unknown))
        hints = typing.get_type_hints(cls)
        return cls(**{k: _coerce(v, hints[k], k) for k, v in data.items()})

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)

    @classmethod
    def help_lines(cls) -> list[str]:
        out = []
        for f in fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            out.append(f"  {f.name} = {default!r}  {f.metadata.get('help', '')} {f.metadata.get('why', '')}".rstrip())
        return out


def _safe(check, value) -> bool:
    try:
        return bool(check(value))
    except Exception:
        return False


def _jsonable(v):
    if isinstance(v, tuple):
        return list(v)
    if isinstance(v, Config):
        return v.to_dict()
    return v


def _coerce(value, hint, name: str):
    """Turn a JSON value or a CLI string into the field's declared type, or raise naming the key."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, name)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{name}: cannot parse {value!r}")
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [p for p in value.strip("()[] ").split(",") if p.strip()]
        item = args[0] if args else str
        return tuple(_coerce(v, item, name) for v in value) if origin is tuple else [_coerce(v, item, name) for v in value]
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            s = str(value).lower()
            if s in ("1", "true", "yes", "on"):
                return True
            if s in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if hint is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
                raise ValueError
            return int(value)
        if hint is float:
            return float(value)
        if hint is str:
            return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} is not a valid {hint.__name__}") from None
    return value


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """['a=1', 'b.c=x'] → {'a': '1', 'b.c': 'x'}; a pair without '=' is an error."""
    out = {}
    for p in pairs:
        if "=" not in p:
            raise ConfigError(f"override {p!r} is not of the form key=value (e.g. steps=200)")
        k, v = p.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def apply_overrides(sections: dict[str, Config], overrides: dict[str, object]) -> dict[str, Config]:
    """Route ``section.key=value`` (or a bare ``key`` that names one section's field) into new configs.

    Collects every bad key and value into one error, so a user fixes them all at once.
    """
    updates: dict[str, dict] = {s: {} for s in sections}
    errors: list[str] = []
    owners: dict[str, list[str]] = {}
    for s, cfg in sections.items():
        for f in fields(cfg):
            owners.setdefault(f.name, []).append(s)
    all_keys = sorted({f"{s}.{k}" for k, ss in owners.items() for s in ss} | set(owners))
    for key, value in overrides.items():
        section, _, name = key.rpartition(".")
        if section:
            if section not in sections or name not in owners or section not in owners[name]:
                errors.append(f"unknown key {key!r}." + did_you_mean(key, all_keys))
                continue
        else:
            if name not in owners:
                errors.append(f"unknown key {key!r}." + did_you_mean(key, all_keys))
                continue
            if len(owners[name]) > 1:
                errors.append(f"key {key!r} is ambiguous: write one of " + ", ".join(f"{s}.{name}" for s in owners[name]))
                continue
            section = owners[name][0]
        updates[section][name] = value
    out = {}
    for s, cfg in sections.items():
        if not updates[s]:
            out[s] = cfg
            continue
        hints = typing.get_type_hints(type(cfg))
        coerced = {}
        for k, v in updates[s].items():  # every bad value is listed, not only the first
            try:
                coerced[k] = _coerce(v, hints[k], f"{s}.{k}")
            except ConfigError as e:
                errors.append(str(e))
        try:
            out[s] = dataclasses.replace(cfg, **coerced)
        except ConfigError as e:
            errors.append(str(e))
    if errors:
        raise ConfigError("bad config: " + " | ".join(errors))
    return out


def dump_json(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=_jsonable)
