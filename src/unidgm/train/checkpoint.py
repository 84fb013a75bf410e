"""Checkpoints without pickle: tensors in safetensors, everything else in JSON, written atomically.

A checkpoint is a folder ``ckpt-<step>/`` holding ``tensors.safetensors`` (model parameters and
buffers, optimiser moments, RNG states, the metrics accumulated since the last log line) and
``state.json`` (step, optimiser hyper-parameters, data-stream positions, the SHA-256 of the tensors
file, and the SHA-256 of state.json's own other fields, so that an edited step or stream position is
refused like a corrupt tensors file). It is written into a temporary folder, fsynced and renamed, so a crash mid-write leaves the
previous checkpoint intact; the last ``keep`` are kept. Reading refuses anything that is not ours
(pickles, wrong format tag, digest mismatch, unknown tensors); :func:`load_newest` falls back to an
older checkpoint, with a :class:`CheckpointWarning`, when the newest one is unreadable.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import CheckpointError

TENSORS, STATE, LATEST = "tensors.safetensors", "state.json", "latest"
FORMAT = "unidgm-checkpoint-1"
PREFIXES = ("model/", "optim/", "rng/", "log/")  # every tensor a checkpoint may hold starts with one of these


class CheckpointWarning(UserWarning):
    """The newest checkpoint was unreadable and an older one is used instead."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    """Write a small file through a temp file + fsync + rename (the temp file never outlives a failure)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def state_digest(state: dict) -> str:
    """SHA-256 of a state.json document's fields other than this digest, in canonical JSON."""
    body = {k: v for k, v in state.items() if k != "state_sha256"}
    return hashlib.sha256(json.dumps(json.loads(json.dumps(body)), sort_keys=True).encode()).hexdigest()


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
    """Load an optimiser's state, refusing moments that do not fit its parameters."""
    state: dict = {}
    prefix = f"optim/{name}/"
    try:
        for key, val in tensors.items():
            if key.startswith(prefix):
                idx, field = key[len(prefix):].split("/", 1)
                state.setdefault(int(idx), {})[field] = val
        for key, val in meta["scalars"].items():
            idx, field = key.split("/", 1)
            state.setdefault(int(idx), {})[field] = val
        groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"optimiser {name!r} state is malformed ({e!r})") from None
    params = [p for g in opt.param_groups for p in g["params"]]
    need = {"step", "exp_avg", "exp_avg_sq"} if isinstance(opt, torch.optim.Adam) else set()
    for idx, st in state.items():
        if not 0 <= idx < len(params):
            raise CheckpointError(f"optimiser {name!r} has state for parameter {idx}, but the phase has "
                                  f"{len(params)} parameters")
        if need - set(st):
            raise CheckpointError(f"optimiser {name!r} misses {sorted(need - set(st))} of parameter {idx}")
        for field, val in st.items():
            if torch.is_tensor(val) and val.dim() > 0 and val.shape != params[idx].shape:
                raise CheckpointError(f"optimiser {name!r} {field} of parameter {idx} has shape {tuple(val.shape)}, "
                                      f"the parameter {tuple(params[idx].shape)}")
    try:
        opt.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"optimiser {name!r} state does not fit the model: {e}") from None


def rng_tensors() -> dict:
    out = {"rng/cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            out[f"rng/cuda{i}"] = s
    return out


def restore_rng(tensors: dict) -> None:
    try:
        torch.set_rng_state(tensors["rng/cpu"])
        cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng/cuda")]
        if cuda and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    except (KeyError, RuntimeError, TypeError) as e:
        raise CheckpointError(f"the checkpoint's random-number state is missing or malformed ({e})") from None


def checkpoint_step(path: Path) -> int:
    try:
        return int(Path(path).name.split("-", 1)[1])
    except (IndexError, ValueError):
        return -1


def save_checkpoint(folder: Path, step: int, model: torch.nn.Module, optimizers: dict, state: dict,
                    keep: int = 3, extra_tensors: dict | None = None) -> Path:
    """Atomically write ``folder/ckpt-<step>`` and point ``folder/latest`` at it; prune to ``keep``.

    ``extra_tensors`` (names under ``log/``) travel with the model's. A failure to write (e.g. a full
    disk) raises :class:`CheckpointError` and leaves no partial folder; earlier checkpoints are untouched.
    """
    folder = Path(folder)
    final = folder / f"ckpt-{step:08d}"
    tmp = folder / f".tmp-ckpt-{step:08d}"
    old = folder / f".old-ckpt-{step:08d}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(".tmp-ckpt-*"):  # left by a process killed mid-save (one writer per run)
            shutil.rmtree(stale, ignore_errors=True)
        tmp.mkdir()
        try:
            tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
            opt_meta = {}
            for name, opt in optimizers.items():
                t, m = optimizer_tensors(name, opt)
                tensors.update(t)
                opt_meta[name] = m
            tensors.update(rng_tensors())
            tensors.update({k: v.detach().cpu().contiguous() for k, v in (extra_tensors or {}).items()})
            save_file(tensors, str(tmp / TENSORS))
            with open(tmp / TENSORS, "rb") as f:
                os.fsync(f.fileno())
            doc = {"format": FORMAT, "step": step, "optimizers": opt_meta, **state,
                   "tensors_sha256": file_digest(tmp / TENSORS)}
            doc["state_sha256"] = state_digest(doc)
            with open(tmp / STATE, "w") as f:
                json.dump(doc, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            _fsync_dir(tmp)
            if final.exists():  # saving a step again (resuming a finished run): swap, never delete first
                shutil.rmtree(old, ignore_errors=True)
                os.replace(final, old)
            os.replace(tmp, final)
            _fsync_dir(folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)  # never leave half a checkpoint behind
            if old.exists() and not final.exists():
                os.replace(old, final)
            raise
        atomic_write_text(folder / LATEST, final.name)
    except (OSError, SafetensorError) as e:
        prev = latest_checkpoint(folder) if folder.is_dir() else None
        hint = (f"the previous checkpoint {prev} is intact; free some space and continue with "
                f"`unidgm train --resume {folder.parent}`" if prev else "there is no earlier checkpoint")
        raise CheckpointError(f"could not write the checkpoint of step {step} to {folder} "
                              f"({getattr(e, 'strerror', None) or e}); {hint}") from e
    shutil.rmtree(old, ignore_errors=True)
    # keep the newest `keep` up to this step; later ones (left when a resume had to skip a damaged
    # checkpoint) are not counted, and are replaced when the run reaches their step again
    done = sorted((p for p in folder.glob("ckpt-*") if checkpoint_step(p) <= step), key=checkpoint_step)
    for p in done[:-keep] if keep > 0 else []:
        shutil.rmtree(p, ignore_errors=True)
    return final


def _complete(path: Path) -> bool:
    return (path / STATE).is_file() and (path / TENSORS).is_file()


def checkpoints(folder: Path) -> list[Path]:
    """The complete checkpoints of ``folder``, newest first: the one ``latest`` names, then by step."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    done = sorted((p for p in folder.glob("ckpt-*") if _complete(p)), key=checkpoint_step, reverse=True)
    pointer = folder / LATEST
    if pointer.is_file():
        with contextlib.suppress(OSError, UnicodeDecodeError):
            named = folder / pointer.read_text().strip()
            if named in done:
                done.remove(named)
                done.insert(0, named)
    return done


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint: the one ``latest`` names, else the highest step present."""
    found = checkpoints(folder)
    return found[0] if found else None


def load_newest(folder: Path, apply):
    """``(path, apply(path))`` for the newest checkpoint ``apply`` accepts; None when there is none.

    A newer checkpoint that raises :class:`CheckpointError` (corrupt, truncated, tampered) is skipped
    with a :class:`CheckpointWarning` naming it; if every one fails, the newest one's error is raised.
    """
    errors = []
    for path in checkpoints(folder):
        try:
            result = apply(path)
        except CheckpointError as e:
            errors.append((path, e))
            continue
        for bad, e in errors:
            warnings.warn(f"skipping unreadable checkpoint {bad}: {e}", CheckpointWarning, stacklevel=2)
        return path, result
    if errors:
        errors = [e for _, e in errors]
        if len(errors) > 1:
            raise CheckpointError(f"{errors[0]} (and the {len(errors) - 1} older checkpoint(s) fail too)") from None
        raise errors[0]
    return None


def _sniff(path: Path) -> str:
    """' It is a pickle/zip (torch.save) file ...' when the bytes say so: such files are never unpickled."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return ""
    if head[:2] == b"PK" or (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5):
        return " It holds a pickle (torch.save) file, which is refused: unpickling can run arbitrary code."
    return ""


def read_checkpoint(path: Path) -> tuple[dict, dict]:
    """(tensors, state) of a checkpoint folder, refusing anything that is not ours."""
    path = Path(path)
    if path.is_file():
        raise CheckpointError(f"{path} is a file; a unidgm checkpoint is a folder ckpt-<step>/ holding {TENSORS} "
                              f"and {STATE}.{_sniff(path) or ' Pickled .pt/.pth files are refused by design.'}")
    if not (path / TENSORS).is_file() or not (path / STATE).is_file():
        raise CheckpointError(f"{path} is not a unidgm checkpoint (needs {TENSORS} and {STATE}); "
                              "pickled .pt/.pth files are refused by design")
    try:
        state = json.loads((path / STATE).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path / STATE} is not valid JSON ({e}); the checkpoint is corrupt: "
                              "resume from an earlier one or delete this folder") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        fmt = state.get("format") if isinstance(state, dict) else None
        raise CheckpointError(f"{path / STATE} has format {fmt!r}, expected {FORMAT!r}")
    bad = [k for k, t in (("step", int), ("optimizers", dict), ("streams", dict)) if not isinstance(state.get(k), t)]
    if bad or state["step"] < 0:
        raise CheckpointError(f"{path / STATE} lacks or mangles {', '.join(bad) or 'step'}; the checkpoint is corrupt")
    named = checkpoint_step(path)
    if state.get("state_sha256", state_digest(state)) != state_digest(state) or (named >= 0 and named != state["step"]):
        raise CheckpointError(f"{path / STATE} was edited after it was written (its step, stream positions or "
                              "optimiser settings no longer match the SHA-256 it records); use an earlier checkpoint")
    digest = state.get("tensors_sha256")
    if digest is not None and file_digest(path / TENSORS) != digest:
        raise CheckpointError(f"{path / TENSORS} does not match the SHA-256 recorded in {STATE}: it was truncated, "
                              f"corrupted or replaced.{_sniff(path / TENSORS)} Use an earlier checkpoint.")
    try:
        tensors = load_file(str(path / TENSORS))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path / TENSORS} cannot be read as safetensors ({e}); the checkpoint "
                              f"is corrupt or truncated.{_sniff(path / TENSORS)} Use an earlier checkpoint.") from None
    unknown = sorted(k for k in tensors if not k.startswith(PREFIXES))
    if unknown:
        raise CheckpointError(f"{path / TENSORS} holds unexpected tensors {unknown[:5]}: it was not written by unidgm")
    if "rng/cpu" not in tensors:
        raise CheckpointError(f"{path / TENSORS} misses the random-number state rng/cpu; the checkpoint is incomplete")
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
