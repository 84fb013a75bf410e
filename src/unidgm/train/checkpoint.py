"""Checkpoints without pickle: tensors in safetensors, everything else in JSON, written atomically.

A checkpoint is a folder ``ckpt-<step>/`` holding ``tensors.safetensors`` (model parameters and
buffers, optimiser moments, RNG states) and ``state.json`` (step, optimiser hyper-parameters,
data-stream positions, config digest). It is written into a temporary folder, fsynced and renamed,
so a crash mid-write leaves the previous checkpoint intact; the last ``keep`` are kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import CheckpointError

TENSORS, STATE, LATEST = "tensors.safetensors", "state.json", "latest"
FORMAT = "unidgm-checkpoint-1"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    """Write a small file through a temp file + fsync + rename."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def config_digest(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def optimizer_tensors(name: str, opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Split an optimiser's state into tensors (for safetensors) and JSON-able hyper-parameters."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for key, val in st.items():
            if torch.is_tensor(val):
                tensors[f"optim/{name}/{idx}/{key}"] = val.detach().cpu().contiguous()
            else:
                scalars[f"{idx}/{key}"] = val
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def restore_optimizer(name: str, opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state: dict = {}
    prefix = f"optim/{name}/"
    for key, val in tensors.items():
        if key.startswith(prefix):
            idx, field = key[len(prefix):].split("/", 1)
            state.setdefault(int(idx), {})[field] = val
    for key, val in meta["scalars"].items():
        idx, field = key.split("/", 1)
        state.setdefault(int(idx), {})[field] = val
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]]
    try:
        opt.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError) as e:
        raise CheckpointError(f"optimiser {name!r} state does not fit the model: {e}") from None


def rng_tensors() -> dict:
    out = {"rng/cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            out[f"rng/cuda{i}"] = s
    return out


def restore_rng(tensors: dict) -> None:
    torch.set_rng_state(tensors["rng/cpu"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng/cuda")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])


def save_checkpoint(folder: Path, step: int, model: torch.nn.Module, optimizers: dict, state: dict,
                    keep: int = 3) -> Path:
    """Atomically write ``folder/ckpt-<step>`` and point ``folder/latest`` at it; prune to ``keep``."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"ckpt-{step:08d}"
    tmp = folder / f".tmp-ckpt-{step:08d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        opt_meta = {}
        for name, opt in optimizers.items():
            t, m = optimizer_tensors(name, opt)
            tensors.update(t)
            opt_meta[name] = m
        tensors.update(rng_tensors())
        save_file(tensors, str(tmp / TENSORS))
        doc = {"format": FORMAT, "step": step, "optimizers": opt_meta, **state}
        with open(tmp / STATE, "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        with open(tmp / TENSORS, "rb") as f:
            os.fsync(f.fileno())
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # never leave half a checkpoint behind
        raise
    atomic_write_text(folder / LATEST, final.name)
    for old in sorted(folder.glob("ckpt-*"))[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint: the one ``latest`` names, else the highest step present."""
    pointer = folder / LATEST
    if pointer.exists():
        cand = folder / pointer.read_text().strip()
        if (cand / STATE).exists():
            return cand
    done = [p for p in sorted(folder.glob("ckpt-*")) if (p / STATE).exists() and (p / TENSORS).exists()]
    return done[-1] if done else None


def read_checkpoint(path: Path) -> tuple[dict, dict]:
    """(tensors, state) of a checkpoint folder, refusing anything that is not ours."""
    path = Path(path)
    if not (path / TENSORS).exists() or not (path / STATE).exists():
        raise CheckpointError(f"{path} is not a unidgm checkpoint (needs {TENSORS} and {STATE}); "
                              "pickled .pt/.pth files are refused by design")
    try:
        state = json.loads((path / STATE).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path / STATE} is not valid JSON ({e}); the checkpoint is corrupt: "
                              "resume from an earlier one or delete this folder") from None
    if state.get("format") != FORMAT:
        raise CheckpointError(f"{path / STATE} has format {state.get('format')!r}, expected {FORMAT!r}")
    try:
        tensors = load_file(str(path / TENSORS))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path / TENSORS} cannot be read as safetensors ({e}); the checkpoint "
                              "is corrupt or truncated: resume from an earlier one") from None
    return tensors, state


def load_model_tensors(model: torch.nn.Module, tensors: dict, where: str = "") -> None:
    """Load ``model/*`` tensors into ``model``, naming every missing, unexpected or mis-shaped one."""
    own = model.state_dict()
    given = {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}
    missing = sorted(set(own) - set(given))
    unexpected = sorted(set(given) - set(own))
    shapes = [f"{k}: checkpoint {tuple(given[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in given and given[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing tensors {missing[:5]}{'...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected tensors {unexpected[:5]}")
        if shapes:
            parts.append("wrong shapes " + "; ".join(shapes[:5]))
        raise CheckpointError(f"checkpoint {where} does not match the model ({', '.join(parts)}); "
                              "was it written by another model or config?")
    model.load_state_dict({k: given[k].to(own[k].dtype) for k in own})
