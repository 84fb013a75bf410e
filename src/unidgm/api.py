"""The Python API: build, train, resume and load models by name.

    import unidgm
    run = unidgm.fit("vae", data="digits", overrides={"steps": 300})
    model = unidgm.load(run.path)
    x = model.sample(16)
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from . import models as _zoo  # noqa: F401  (registers the zoo)
from . import techniques as _tech  # noqa: F401
from .config import Config, apply_overrides
from .core import DataSpec, UnifiedModel
from .errors import CheckpointError, ConfigError, DataError, RunDirError
from .recipes import RECIPES, known_keys, recipe_overrides
from .registry import MODELS
from .techniques import TECHNIQUES, TechniqueRefused, apply_techniques
from .train import checkpoint as ckpt
from .train.config import TrainConfig
from .train.loop import Trainer
from .train.rundir import RunDir
from .train.streams import Streams



def build_model(name: str, model_config: Config | dict | None = None, *, spec: DataSpec,
                techniques: dict[str, Config | dict] | None = None) -> UnifiedModel:
    """Build a registered model (with techniques applied) for data of the given shape."""
    entry = MODELS.get(name)
    cfg = _as_config(entry.config, model_config, f"{name} model")
    model = entry.build(cfg, spec)
    tcfgs = {t: _as_config(TECHNIQUES.get(t).config, c, f"{t} technique") for t, c in (techniques or {}).items()}
    try:
        return apply_techniques(model, tcfgs)
    except TechniqueRefused as e:
        where = [m for m, row in technique_matrix().items() if row[e.technique] is None]
        raise ConfigError(f"{e}. It is defined for {', '.join(where) or 'no model'} "
                          "(`unidgm models` prints the model × technique matrix)") from None


_PROBE = DataSpec((1, 8, 8), 10)  # a shape every model accepts, to read the definitions off


@functools.lru_cache(maxsize=1)
def technique_matrix() -> dict[str, dict[str, str | None]]:
    """{model: {technique: None where it applies, else the reason it does not}} over the registry's default
    builds: what "one formulation" buys, read off the declared phases, never off model names."""
    out = {}
    for name in MODELS.names():
        model = MODELS.get(name).build(MODELS.get(name).config(), _PROBE)
        out[name] = {t: TECHNIQUES.get(t).build.refusal(model) for t in TECHNIQUES.names()}
    return out


def _as_config(cls, value, where: str) -> Config:
    if value is None:
        return cls()
    if isinstance(value, Config):
        return value
    return cls.from_dict(dict(value), where)


@dataclass
class Settings:
    """Everything that defines a run: model, data, configs. Round-trips through config.json.

    ``data_root`` is where a run read a dataset that lives under a data root (mnist, svhn, ...), recorded
    absolute so that eval, sample and resume find it again; None for path forms and bundled data.
    """

    model: str
    data: str
    model_config: Config
    train: TrainConfig
    techniques: dict[str, Config]
    data_root: str | None = None

    def to_dict(self) -> dict:
        return {"model": self.model, "data": self.data, "model_config": self.model_config.to_dict(),
                "train": self.train.to_dict(), "techniques": {k: v.to_dict() for k, v in self.techniques.items()},
                "data_root": self.data_root}

    @classmethod
    def from_dict(cls, d: dict) -> "Settings":
        entry = MODELS.get(d["model"])
        return cls(d["model"], d["data"], entry.config.from_dict(d["model_config"]),
                   TrainConfig.from_dict(d["train"]),
                   {t: TECHNIQUES.get(t).config.from_dict(c) for t, c in d.get("techniques", {}).items()},
                   d.get("data_root"))  # absent in run folders written before it was recorded


def resolve(model: str, data: str = "digits", overrides: dict | list | None = None,
            techniques: list[str] | tuple[str, ...] = ()) -> Settings:
    """Configs for a run from names and ``key=value`` overrides (sections: model, train, iw, aa)."""
    from .data.registry import absolute_spec
    entry = MODELS.get(model)
    if isinstance(techniques, str):  # techniques="aa" (or "iw,aa") names techniques, not letters
        techniques = [t.strip() for t in techniques.split(",") if t.strip()]
    techs = {t: TECHNIQUES.get(t).config() for t in dict.fromkeys(techniques)}
    return override(Settings(model, absolute_spec(data), entry.config(), TrainConfig(), techs), overrides)


def override(settings: Settings, overrides: dict | list | None) -> Settings:
    """A copy of ``settings`` with ``section.key=value`` overrides applied and validated."""
    from .config import parse_overrides
    if isinstance(overrides, (list, tuple)):
        overrides = parse_overrides(list(overrides))
    # `match.z=adversarial` picks the tool for the code pair: the model config's match_z field
    overrides = {(f"model.match_{k[6:]}" if k.startswith("match.") else k): v for k, v in (overrides or {}).items()}
    sections = {"model": settings.model_config, "train": settings.train, **settings.techniques}
    recipe = overrides.get("recipe", overrides.get("train.recipe"))
    if recipe in RECIPES:  # a named recipe's settings, under the caller's own (an unknown name fails below)
        family = MODELS.get(settings.model).family
        overrides = {**recipe_overrides(recipe, family, known_keys(sections))[0], **overrides}
    sections = apply_overrides(sections, dict(overrides or {}))
    return Settings(settings.model, settings.data, sections["model"], sections["train"],
                    {t: sections[t] for t in settings.techniques}, settings.data_root)


def device_for(cfg: TrainConfig) -> torch.device:
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but no CUDA device is available: use device=cpu or device=auto")
    return torch.device("cuda" if cfg.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu")


@dataclass
class Prepared:
    """A run's model, its data streams, its training set, and the validation split held out of it."""

    model: UnifiedModel
    streams: Streams
    source: object             # the training Dataset (after n_train)
    val: object | None = None  # the validation Dataset (target-domain images for ADA), or None
    split: dict | None = None  # what RUN/split.json records: sizes, seed, digest of the validation indices
    full_train: object | None = None  # the whole training split (the domain classifier trains on it)


def validation_size(cfg: TrainConfig, n: int) -> int:
    """``val`` resolved: explicit, or (None) 5000 for sets of 20k+ and 10% of smaller ones, when validating."""
    if cfg.val is not None:
        return cfg.val
    if not cfg.eval_every:
        return 0
    return 5000 if n >= 20000 else max(10, (n // 10) // 10 * 10)


def prepare(settings: Settings, data_root=None, rank: int = 0, world_size: int = 1):
    """Build the model and its data streams for ``settings`` (shared by train, resume and DDP)."""
    p = prepare_run(settings, data_root, rank, world_size)
    return p.model, p.streams, p.source


def prepare_run(settings: Settings, data_root=None, rank: int = 0, world_size: int = 1) -> Prepared:
    """:func:`prepare` with the validation split (``val``) held out of the training data first."""
    import hashlib

    from .data import balanced_subset, binarize, domain_pair, domain_pair_names, get_dataset, holdout
    from .data.transforms import VALIDATION_SEED
    cfg = settings.train
    if settings.data.partition(":")[0] in domain_pair_names():
        source, target = domain_pair(settings.data, "train", data_root, seed=cfg.seed)
    else:
        source, target = get_dataset(settings.data, "train", data_root, seed=cfg.seed), None
    full_train, val, split = source, None, None
    held = target if target is not None else source  # ADA validates on held-out target images
    n_val = validation_size(cfg, len(held))
    if n_val:
        rest, val, idx = holdout(held, n_val)
        if target is not None:
            target = rest
        else:
            source = rest
        split = {"val": n_val, "from": "target" if target is not None else "train", "seed": VALIDATION_SEED,
                 "val_indices_sha256": hashlib.sha256(idx.numpy().astype("int64").tobytes()).hexdigest(),
                 "train_examples_left": len(rest)}
    if cfg.n_train is not None:
        if cfg.n_train > len(source):
            raise ConfigError(f"n_train={cfg.n_train} exceeds the {len(source)} training examples of {settings.data}")
        source = balanced_subset(source, cfg.n_train, cfg.seed)[0] if source.y is not None else source.subset(torch.arange(cfg.n_train))
    spec = DataSpec(tuple(source.shape), source.num_classes)
    torch.manual_seed(cfg.seed)
    model = build_model(settings.model, settings.model_config, spec=spec, techniques=settings.techniques)
    if model.paired and target is None:
        raise ConfigError(f"{settings.model} needs a pair of domains; valid --data: {', '.join(domain_pair_names())}")
    device = device_for(cfg)
    model.to(device)
    needs_labels = model.needs_labels
    if needs_labels and source.y is None:
        raise ConfigError(f"{settings.model} needs labels but {settings.data} has none")
    if model.binary_data:  # the data layer checks; the model only says what it needs
        source.require_range(0.0, 1.0, f"{settings.model}'s Bernoulli decoder models values in [0, 1] (its "
                             "log-likelihood is meaningless outside, and binarisation needs probabilities)",
                             "Scale the data into [0, 1] (uint8 images are scaled on load), or pass "
                             "model.likelihood=gaussian for real-valued data")
    mode = cfg.binarize if cfg.binarize != "auto" else ("dynamic" if model.binary_data and source.is_image else "none")
    x = source.x if mode != "fixed" else binarize(source.x, "fixed", seed=cfg.seed)
    sources = {}
    if model.semi_supervised:
        labelled, unlabelled = balanced_subset(source, cfg.n_labelled, cfg.seed)
        xl = labelled.x if mode != "fixed" else binarize(labelled.x, "fixed", seed=cfg.seed)
        xu = unlabelled.x if mode != "fixed" else binarize(unlabelled.x, "fixed", seed=cfg.seed + 1)
        sources["main"] = ((xl, labelled.y), ("x", "c"))
        sources["unlabelled"] = ((xu,), ("x_u",))
        model.stream_sizes = {"x": len(labelled), "x_u": len(unlabelled)}
    else:
        sources["main"] = ((x, source.y), ("x", "c")) if needs_labels else ((x,), ("x",))
    if target is not None:
        sources["target"] = ((target.x,), ("x_t",))
    keys = ("x", "x_u") if mode == "dynamic" else ()
    from .train.speed import data_resident
    if data_resident(cfg.data_on_device, device, [t for ts, _ in sources.values() for t in ts]):
        # gathered on the accelerator from now on: no host-to-device copy per step
        sources = {n: (tuple(t.to(device) for t in ts), k) for n, (ts, k) in sources.items()}
    batch = cfg.batch_size // world_size
    smallest = min(len(ts[0]) for ts, _ in sources.values()) // world_size
    if 0 < smallest < batch:  # a small folder of one's own images: one batch per step is all of it
        import warnings
        warnings.warn(f"batch_size={cfg.batch_size} exceeds the {smallest * world_size} examples of the smallest "
                      f"training stream of {settings.data}; using batches of {smallest * world_size} (set "
                      "batch_size= to choose)", stacklevel=2)
        batch = smallest
    streams = Streams(sources, batch, cfg.seed, keys, device, rank, world_size)
    if split is not None:
        split["n_train"] = len(source)
    return Prepared(model, streams, source, val, split, full_train)


def make_validator(p: Prepared, settings: Settings, data_root=None):
    """(validator, (selection key, higher is better)) for a run with ``eval_every``, else (None, None)."""
    cfg = settings.train
    if not cfg.eval_every:
        return None, None
    if p.val is None:
        raise ConfigError(f"eval_every={cfg.eval_every} needs a validation split, but val=0; pass val=N (N > 0) "
                          "or eval_every=0")
    from .eval.run import writable_cache
    from .eval.validation import make_validator as build, selection_metric
    with torch.random.fork_rng(devices=[]):  # probing the model must not move the run's random stream
        metric = selection_metric(p.model, p.val, cfg.select)
        validator = build(p.model, metric, p.val, classifier_train=p.full_train, data_name=settings.data,
                          cache=writable_cache(data_root), n_samples=cfg.val_samples)
    return validator, (f"val/{metric}", True)


def default_out(settings: Settings) -> Path:
    """runs/<model>[-<techniques>]-<data>-<date>-<time>-<microseconds>, never a folder that exists already
    (runs started in the same second get different names; the folder lock catches any remaining race)."""
    from .data.registry import spec_path
    tech = "-".join(settings.techniques)
    path = spec_path(settings.data)  # a path form: its prefix and the file/folder name, not the whole path
    data = f"{settings.data.partition(':')[0]}_{path.name}" if path is not None else settings.data
    name = f"{settings.model}{'-' + tech if tech else ''}-{data.replace(':', '_').replace('/', '_')}"
    now = time.time()
    stem = Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}-{int(now * 1e6) % 10**6:06d}"
    out, n = stem, 1
    while out.exists():
        n += 1
        out = stem.with_name(f"{stem.name}-{n}")
    return out


@dataclass
class Run:
    """A finished (or interrupted) training run: its folder, model and last logged metrics."""

    path: Path
    model: UnifiedModel
    metrics: dict
    settings: Settings
    stopped: str | None = None  # None: every step ran; "early": patience spent; "budget": max_minutes spent
    best: dict | None = None    # the best validation (metric, value, step), when the run validated


def train(model: str | None = None, data: str | None = None, *, overrides: dict | list | None = None, techniques=(),
          out: str | os.PathLike | None = None, data_root=None, progress: bool | None = None,
          distributed=None, config: str | os.PathLike | None = None) -> Run:
    """Train ``model`` on ``data`` (default digits) and write a run folder; returns the :class:`Run`.

    ``config`` names an experiment file (JSON or TOML, e.g. a run's own config.json) to start from;
    ``model``/``data``/``techniques``/``data_root`` and ``overrides`` then apply on top of it.
    """
    if config is not None:
        from .experiments.configfile import settings_from_file
        settings = settings_from_file(config, model=model, data=data, techniques=techniques, overrides=overrides)
        data_root = data_root if data_root is not None else settings.data_root
    elif model is None:
        raise ConfigError("name a model to train (see `unidgm models`), or pass config=FILE")
    else:
        settings = resolve(model, data or "digits", overrides, techniques)
    settings.data_root = recorded_root(settings.data, data_root)
    if settings.train.mlflow:  # a relative folder is recorded absolute, so that --resume logs to the same store
        from .train.tracking import tracking_uri
        settings.train = settings.train.replace(mlflow=tracking_uri(settings.train.mlflow))
    if progress is not None:
        settings.train = settings.train.replace(progress=progress)
    out = out or default_out(settings)
    if distributed is not None:  # rank 0 names the run folder (timestamps may differ between ranks)
        out = distributed.broadcast_object(str(out))
    return _fit(settings, out, data_root, resume=False, distributed=distributed)


def resume(run_dir: str | os.PathLike, *, data_root=None, overrides: dict | list | None = None,
           force: bool = False, progress: bool | None = None, distributed=None, data: str | None = None) -> Run:
    """Continue a run from its latest checkpoint; on CPU the result equals an uninterrupted run.

    The data spec and data root the run recorded are used unless ``data`` / ``data_root`` say otherwise
    (e.g. the same folder moved elsewhere).

    ``overrides`` may change the budget and bookkeeping freely (steps, progress, log_every, ckpt_every,
    sample_every, threads); any other change needs ``force``. A forced change takes effect from the resumed
    step: optimiser settings (learning rates, betas, weight decay) are applied to the restored optimisers,
    guards and checkpoint settings are read as the run goes. A change the checkpoint cannot hold is refused
    with config.json left as it was: other part sizes or phases (the tensors do not fit), or another data
    set, seed or batch size (the data streams' saved positions do not fit).
    """
    run = RunDir(run_dir)
    stored = run.read_config()
    settings = Settings.from_dict(stored)
    spec, root = run_data(settings, run.path, data, data_root)
    if data and not force and _data_kind(spec) != _data_kind(settings.data):
        raise ConfigError(f"resuming {run.path} on other data: it was trained on {settings.data}, --data says {spec}; "
                          "--data on resume is for the same data moved elsewhere. Pass --force to resume anyway")
    settings.data, settings.data_root = spec, recorded_root(spec, root)
    data_root = root
    if overrides:
        changed = override(settings, overrides)
        diff = _diff(settings.to_dict(), changed.to_dict())
        harmless = {"train.steps", "train.progress", "train.log_every", "train.ckpt_every", "train.sample_every",
                    "train.threads", "train.max_minutes", "train.mlflow"}
        if set(diff) - harmless and not force:
            raise ConfigError("resuming with a changed config: " + "; ".join(
                f"{k}: {a!r} -> {b!r}" for k, (a, b) in diff.items()) + ". Pass --force to resume anyway")
        settings = changed
    if progress is not None:
        settings.train = settings.train.replace(progress=progress)
    return _fit(settings, run.path, data_root, resume=True, distributed=distributed)


def recorded_root(spec: str, data_root=None) -> str | None:
    """The absolute data root a run on ``spec`` reads (recorded in config.json); None where it reads none."""
    from .data import data_root as resolve_root
    from .data.registry import needs_root
    return os.path.abspath(resolve_root(data_root)) if needs_root(spec) else None


def run_data(settings: Settings, run_path, data: str | None = None, data_root=None) -> tuple[str, str | None]:
    """(spec, data root) for a later command on a run: explicit ``data`` / ``data_root`` win, else what the
    run recorded. A recorded folder that is gone is an error naming it and the flag to pass."""
    from .data.registry import absolute_spec, needs_root, spec_path
    spec = absolute_spec(data) if data else settings.data
    path = spec_path(spec)
    if not data and path is not None and not path.exists():
        raise DataError(f"{run_path} was trained on {spec}, but {path} no longer exists; pass --data "
                        f"{spec.partition(':')[0]}:<where it is now> (data=... in the API)")
    if data_root is not None or not needs_root(spec):
        return spec, None if data_root is None else str(data_root)
    if settings.data_root is None:
        return spec, None  # a run folder from before roots were recorded: $UNIDGM_DATA / ~/.cache/unidgm
    if not Path(settings.data_root).is_dir():
        raise DataError(f"{run_path} read {spec} from the data root {settings.data_root} (recorded in its "
                        f"config.json), which no longer exists; pass --data-root <folder that holds {spec}/> "
                        "(data_root=... in the API)")
    return spec, settings.data_root


def _data_kind(spec: str) -> str:
    """What must stay the same when data moves: the name, or the path form and its options."""
    from .data.registry import spec_path
    path = spec_path(spec)
    return spec.lower() if path is None else spec.replace(str(path), "<path>", 1)


def dataset(run_dir: str | os.PathLike, split: str = "test", *, data: str | None = None, data_root=None):
    """The ``split`` of the data a run was trained on, found through the spec and root it recorded."""
    from .data import get_dataset
    settings = read_settings(run_dir)
    spec, root = run_data(settings, run_dir, data, data_root)
    return get_dataset(spec, split, root, seed=settings.train.seed + (split == "test"))


def _diff(a: dict, b: dict, prefix: str = "") -> dict:
    out = {}
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        key = f"{prefix}{k}"
        if isinstance(va, dict) and isinstance(vb, dict):
            out.update(_diff(va, vb, key + "."))
        elif va != vb:
            out[key] = (va, vb)
    return out


def _fit(settings: Settings, out, data_root, *, resume: bool, distributed=None) -> Run:
    from .train.speed import denormals_flushed, torch_threads
    cfg = settings.train
    flush = cfg.denormals == "flush" or (cfg.denormals == "auto" and device_for(cfg).type == "cpu")
    # both hold for this run only, not for the caller's process
    with torch_threads(cfg.threads), denormals_flushed(flush):
        return _fit_run(settings, out, data_root, resume=resume, distributed=distributed)


def _fit_run(settings: Settings, out, data_root, *, resume: bool, distributed=None) -> Run:
    rank, world = (distributed.rank, distributed.world_size) if distributed else (0, 1)
    if settings.train.batch_size % world:
        raise ConfigError(f"batch_size={settings.train.batch_size} is the global batch and must be divisible by the "
                          f"{world} processes; choose a multiple of {world}")
    if settings.train.mlflow and rank == 0:
        from .train import tracking
        tracking.require()  # before any folder is written
    p = prepare_run(settings, data_root, rank, world)
    model, streams, source = p.model, p.streams, p.source
    validator, select = make_validator(p, settings, data_root)
    if distributed is not None:
        distributed.wrap(model)
    # the folder is written only once the model is built; a second process training into it is refused
    run = RunDir(out, rank0=rank == 0).lock()
    finished = False
    try:
        shape = {"x_shape": list(model.x_shape), "num_classes": model.num_classes,  # what `load` rebuilds from
                 "classes": None if source.classes is None else list(source.classes)}
        trainer = Trainer(model, streams, settings.train, run, sample_reference=source.modes, state=shape,
                          distributed=distributed, validator=validator, select=select)
        if data_root is not None:  # the resume hint printed on SIGINT/SIGTERM must find the data again
            trainer.resume_args = f" --data-root {shlex.quote(str(data_root))}"
        if resume:
            # the newest checkpoint that loads; a corrupt newer one is skipped with a CheckpointWarning
            if ckpt.load_newest(run.checkpoints, trainer.restore) is None:
                raise CheckpointError(f"{run.path} has no checkpoint to resume from; start it again without "
                                      f"--resume (`unidgm train {settings.model} --data {settings.data} --out {run.path}`"
                                      " with the same settings)")
            run.create(settings.to_dict(), settings.train.seed, resume=True)  # config.json changes once the checkpoint fits
            run.truncate_log(trainer.step)
            trainer.forget_future_best()
        else:
            run.create(settings.to_dict(), settings.train.seed)
        if p.split is not None and run.rank0:
            ckpt.atomic_write_text(run.path / "split.json", json.dumps(p.split, indent=2))
        if settings.train.mlflow and rank == 0:
            from .train.tracking import MLflowTracker
            run.tracker = MLflowTracker(settings.train.mlflow, run.path, settings.to_dict())
        metrics = trainer.fit()
        finished = True
    finally:
        run.close(finished)
    return Run(run.path, model, metrics, settings, trainer.stopped,
               trainer.selection.summary() if trainer.selection.best_step is not None else None)


def load(run_dir: str | os.PathLike, checkpoint: str | None = None, device: str = "cpu") -> UnifiedModel:
    """The trained model of a run folder, ready to ``sample``, ``encode`` (means by default), ``elbo``.

    Needs neither the training data nor the CLI: the model is rebuilt from ``config.json`` and the
    shapes stored in the checkpoint, and its weights are read from safetensors (no pickle).
    ``checkpoint``: None (default) is the *best validated* model when the run validated (``eval_every``;
    RUN/best/), else the newest checkpoint; ``"last"`` the newest; ``"best"`` the best (an error when the run
    never validated); or a path / a name such as ``ckpt-00000500`` in the run's checkpoints. A corrupt newer
    checkpoint is skipped with a CheckpointWarning. ``model.checkpoint`` says which one was loaded.
    """
    if run_dir is None or (isinstance(run_dir, str) and not run_dir.strip()):
        raise RunDirError("no run folder given: pass the folder a training run wrote, e.g. unidgm.load('runs/vae-...')")
    run = RunDir(run_dir)
    settings = Settings.from_dict(run.read_config())

    def build(path: Path) -> UnifiedModel:
        tensors, state = ckpt.read_checkpoint(path)
        try:
            spec = DataSpec(tuple(state["x_shape"]), state.get("num_classes"))
        except (KeyError, TypeError) as e:
            raise CheckpointError(f"{path / ckpt.STATE} lacks the data shape ({e!r}); "
                                  "the checkpoint is corrupt") from None
        model = build_model(settings.model, settings.model_config, spec=spec, techniques=settings.techniques)
        ckpt.load_model_tensors(model, tensors, str(path))
        model.classes = state.get("classes")  # class folder names of an image folder: label k is classes[k]
        return model

    kind = checkpoint or ("best" if ckpt.checkpoints(run.best) else "last")
    if kind in ("best", "last"):
        folder = run.best if kind == "best" else run.checkpoints
        found = ckpt.load_newest(folder, build)
        if found is None:
            raise CheckpointError(f"{run.path} has no checkpoint yet" if kind == "last" else
                                  f"{run.path} has no best checkpoint (it did not validate: train with eval_every=N); "
                                  "load checkpoint='last' instead")
        path, model = found
    else:
        path = Path(checkpoint)
        if not path.exists() and (run.checkpoints / checkpoint).exists():
            path = run.checkpoints / checkpoint
        if not path.exists():
            have = [p.name for p in ckpt.checkpoints(run.checkpoints)]
            raise CheckpointError(f"no checkpoint {checkpoint!r} in {run.checkpoints} (nor a folder of that name); "
                                  f"available: {', '.join(have) or 'none'}")
        model = build(path)
        kind = "given"
    model.settings = settings
    model.checkpoint = {"kind": kind, "path": str(path), "step": ckpt.checkpoint_step(path)}
    if kind == "best":
        with contextlib.suppress(OSError, ValueError):
            model.checkpoint.update({k: v for k, v in json.loads(run.best_json.read_text()).items()
                                     if k in ("metric", "value")})
    return model.to(device).eval()


def describe_checkpoint(model) -> str:
    """One line saying which checkpoint a loaded model came from (the CLI prints it)."""
    c = getattr(model, "checkpoint", None) or {}
    if c.get("kind") == "best":
        val = f", {c['metric']} = {c['value']:.4f}" if isinstance(c.get("value"), (int, float)) else ""
        return f"using the best validated checkpoint (step {c.get('step')}{val}); --checkpoint last for the last one"
    if c.get("kind") == "last":
        return f"using the last checkpoint (step {c.get('step')})"
    return f"using checkpoint {c.get('path')} (step {c.get('step')})"


def read_settings(run_dir) -> Settings:
    return Settings.from_dict(RunDir(run_dir).read_config())


__all__ = ["build_model", "train", "resume", "load", "resolve", "prepare", "dataset", "run_data", "Run", "Settings",
           "RunDirError"]
