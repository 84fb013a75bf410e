"""Experiment files: a run described in JSON or TOML, fed back with ``unidgm train/sweep --config FILE``.

The schema is the one of a run folder's ``config.json`` (so that file is itself a valid experiment file)::

    model = "vae"                  # a registered model (`unidgm models`)
    data = "images:photos,size=32"  # any --data spec
    # data_root = "/data"          # for datasets under a data root (mnist, svhn, ...)
    [model_config]                 # the model's own config (CLI section `model`)
    z_dim = 20
    [train]                        # budget, batch, seed, device, checkpoints ...
    steps = 2000
    [techniques.iw]                # a technique switched on, with its settings
    k = 8

Every section is optional except ``model``; unknown keys are refused with the closest valid one, exactly
like ``key=value`` overrides, which apply on top. `default_toml` prints a model's full default file with
every key's help line (``unidgm config MODEL``).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import fields
from pathlib import Path

from ..config import Config
from ..errors import ConfigError, did_you_mean

TOP_KEYS = {"model": "a registered model name", "data": "a --data spec", "data_root": "data root folder",
            "model_config": "the model's config", "train": "the training config",
            "techniques": "technique name -> its config"}


def read_file(path: str | os.PathLike) -> dict:
    """The experiment file's contents as a dict: ``.toml`` as TOML, anything else (``.json``) as JSON."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; write one with `unidgm config MODEL > {path.name}`, "
                          "or pass a run's config.json") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the config file {path} ({e})") from None
    if path.suffix.lower() == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10: no TOML reader in the standard library
            raise ConfigError(f"{path}: reading TOML needs Python 3.11 or newer; use a .json file instead") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path} is not valid TOML ({e})") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            hint = "; name it .toml if it is TOML" if path.suffix.lower() != ".json" else ""
            raise ConfigError(f"{path} is not valid JSON ({e}){hint}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a table/object with at least 'model', got {type(data).__name__}")
    return data


def settings_from_file(path, *, model: str | None = None, data: str | None = None, techniques=(),
                       overrides: dict | list | None = None):
    """Settings from an experiment file, with ``data`` / extra ``techniques`` / ``overrides`` on top.

    The file's sections become ``section.key`` overrides of the defaults, so they are validated exactly like
    ``key=value`` on the command line (and a ``recipe`` in the file expands under the file's own values).
    ``model`` may repeat the file's model; naming another one is an error (its config would not fit)."""
    from ..api import resolve
    from ..config import parse_overrides
    d = read_file(path)
    unknown = [k for k in d if k not in TOP_KEYS]
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s): "
                          + "; ".join(k + "." + did_you_mean(k, TOP_KEYS) for k in unknown))
    if "model" not in d or not isinstance(d["model"], str):
        raise ConfigError(f"{path}: no model; add e.g. model = \"vae\" (see `unidgm models`)")
    if model is not None and model != d["model"]:
        raise ConfigError(f"{path} describes a {d['model']} run but the command names {model}; drop the model "
                          f"argument, or write the {model} file with `unidgm config {model}`")
    sections = {"model_config": d.get("model_config", {}), "train": d.get("train", {}),
                "techniques": d.get("techniques", {})}
    for name, value in sections.items():
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: '{name}' must be a table/object of key = value, got {value!r}")
    from_file = {f"model.{k}": v for k, v in sections["model_config"].items()}
    from_file.update({f"train.{k}": v for k, v in sections["train"].items()})
    for t, cfg in sections["techniques"].items():
        if not isinstance(cfg, dict):
            raise ConfigError(f"{path}: techniques.{t} must be a table/object (empty for the defaults)")
        from_file.update({f"{t}.{k}": v for k, v in cfg.items()})
    spec = data or d.get("data") or "digits"
    if not isinstance(spec, str):
        raise ConfigError(f"{path}: data must be a string such as \"digits\" or \"images:DIR\", got {spec!r}")
    techs = list(dict.fromkeys([*sections["techniques"], *techniques]))
    extra = parse_overrides(list(overrides)) if isinstance(overrides, (list, tuple)) else dict(overrides or {})
    try:
        settings = resolve(d["model"], spec, from_file, techs)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    from ..api import override
    settings = override(settings, extra)  # the command line's own key=value, on top of the file
    root = d.get("data_root")
    settings.data_root = None if root is None else str(root)
    return settings


def flat_overrides(settings) -> dict:
    """``section.key: value`` for every value that differs from the defaults (what a sweep variant needs)."""
    from ..api import resolve
    base = resolve(settings.model, settings.data, None, list(settings.techniques))
    out = {}
    pairs = [("model", settings.model_config, base.model_config), ("train", settings.train, base.train)]
    pairs += [(t, c, base.techniques[t]) for t, c in settings.techniques.items()]
    for section, cfg, default in pairs:
        for k, v in cfg.to_dict().items():
            if v != default.to_dict()[k]:
                out[f"{section}.{k}"] = v
    return out


# --- writing -----------------------------------------------------------------------------------------------

def toml_value(v) -> str:
    """A config value as TOML (strings, numbers, booleans, lists of those)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return ("inf" if v > 0 else "-inf") if math.isinf(v) else "nan" if math.isnan(v) else repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(e) for e in v) + "]"
    return json.dumps(v) if isinstance(v, str) else str(v)


def _help(f) -> str:
    return " ".join(p for p in (f.metadata.get("help", ""), f"({f.metadata['why']})" if f.metadata.get("why") else "")
                    if p)


def _section(cfg: Config) -> list[str]:
    """``key = value  # help`` per field; a None default (TOML has no null) is written commented out."""
    out = []
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        text = "# " + _help(f) if _help(f) else ""
        if value is None:
            out.append(f"# {f.name} = ...   # default: none. {_help(f)}".rstrip())
        else:
            out.append(f"{f.name} = {toml_value(value)}   {text}".rstrip())
    return out


def default_toml(model: str, techniques=(), data: str = "digits") -> str:
    """The full default experiment file of ``model`` (with ``techniques``), every key with its help line."""
    from .. import api
    settings = api.resolve(model, data, None, techniques)
    from ..registry import MODELS
    lines = [f"# unidgm experiment file: {model} ({MODELS.get(model).summary})",
             "# Edit, then: unidgm train --config FILE [key=value ...]   (or unidgm sweep --config FILE)",
             "# A run folder's config.json is a valid file too; key=value overrides apply on top.", "",
             f"model = {toml_value(model)}",
             f"data = {toml_value(data)}   # a --data spec: digits, mnist, ring8, idx:DIR, npz:FILE, images:DIR,size=32 ...",
             "# data_root = \"...\"   # folder holding mnist/, svhn/ ... (default: $UNIDGM_DATA, then ~/.cache/unidgm)",
             "", "[model_config]   # CLI section: model.KEY=...", *_section(settings.model_config),
             "", "[train]   # CLI section: train.KEY=... (or the bare KEY)", *_section(settings.train)]
    for t, cfg in settings.techniques.items():
        lines += ["", f"[techniques.{t}]   # CLI section: {t}.KEY=...", *_section(cfg)]
    if not settings.techniques:
        lines += ["", "# Techniques: add a [techniques.iw] or [techniques.aa] table (empty for the defaults);",
                  "# see `unidgm config MODEL --technique NAME` for their keys."]
    return "\n".join(lines) + "\n"

