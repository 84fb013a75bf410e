"""Which variants one invocation of ``unidgm reproduce`` trains: the comparisons of the tables asked
for (recipes.py), at the sizes, steps and seeds given, on the data the data root holds."""

from __future__ import annotations

from pathlib import Path

from ...errors import ConfigError
from .. import recipes as R
from ..sweep import Variant

# per step, 1 CPU thread, MNIST. The GANs' (DCGAN at batch 64): 420 ms measured on a quiet machine (2026-12-08, 150
# steps of `unidgm train gan --data mnist model.arch=dcgan threads=1`; 246 ms at threads=2), the conditional ones
# scaled by their FLOPs (the label maps add ten input channels to D's first convolution: x1.14)
FAMILY_COST_MS = {"vae": 18, "aa-vae": 30, "cvae": 18, "aa-cvae": 30, "svae": 170, "aa-svae": 215,
                  "gan": 420, "iwgan": 420, "cgan": 480, "iw-cgan": 480}


def run_cost_ms(v: Variant) -> float:
    """A run's expected cost: its step cap × its model's time per step (an ablation, aa-vae-ratio2, costs as aa-vae)."""
    key = v.name.split(f"-{v.data}-")[0]
    while key not in FAMILY_COST_MS and "-" in key:
        key = key.rsplit("-", 1)[0]
    return FAMILY_COST_MS.get(key, 100) * v.steps


def parse_steps(text: str | None, quick: bool) -> tuple[dict[str, int], dict[str, int]]:
    """(every family's step budget, the budgets ``--steps`` names explicitly: ``family[@PCT][:ablations]=N`` keys,
    which win over a recipe's own budget; a bare N names every family)."""
    steps = dict(R.QUICK_STEPS if quick else R.DEFAULT_STEPS)
    if not text:
        return steps, {}
    if "=" not in text:
        explicit = dict.fromkeys(R.FAMILIES, _positive(text, "--steps"))
    else:
        explicit = {R.budget_key(key, "--steps", "svae:ablations=5000"): _positive(n, "--steps")
                    for key, _, n in (item.partition("=") for item in text.split(","))}
    steps.update({k: n for k, n in explicit.items() if k in steps})  # a family's own budget, as reports list it
    return steps, explicit


def parse_seed_list(text: str | None) -> list[int] | None:
    """``--seed-list 2`` or ``0,1``: the seeds one invocation trains (lanes split a table by seed); None: all."""
    if not text:
        return None
    seeds = []
    for item in str(text).split(","):
        try:
            seeds.append(int(item))
        except ValueError:
            raise ConfigError(f"--seed-list: {item.strip()!r} is not an integer (e.g. --seed-list 2 or 0,1)") from None
    if min(seeds) < 0:
        raise ConfigError(f"--seed-list: seeds are >= 0, not {min(seeds)}")
    return sorted(set(seeds))


def _positive(text, what) -> int:
    try:
        v = int(text)
    except ValueError:
        raise ConfigError(f"{what}: {text!r} is not an integer") from None
    if v <= 0:
        raise ConfigError(f"{what}: {v} must be > 0")
    return v


def _sizes(text: str, what: str) -> tuple[int, ...]:
    out = tuple(_positive(s, what) for s in text.split(",") if s.strip())
    if not out:
        raise ConfigError(f"{what}: give percentages, e.g. 1,10,100")
    return out


def _available(name: str, root) -> bool:
    from ...data import get_dataset
    from ...errors import DataError
    try:
        get_dataset(name, "test", root)
        return True
    except (DataError, OSError):
        return False


def _chosen(flag: str, text: str | None, allowed: set[str], what: str) -> set[str]:
    """The comma-separated names of ``flag`` (empty: none chosen), each one of ``allowed``."""
    names = {k.strip() for k in (text or "").split(",") if k.strip()}
    if names - allowed:
        raise ConfigError(f"{flag}: {', '.join(sorted(names - allowed))} is not a {what} of these comparisons; "
                          f"{what}s: {', '.join(sorted(allowed))}")
    return names


class Plan:
    """The comparisons of one invocation, their variants (deduplicated), skipped cells and settings."""

    def __init__(self, args):
        self.quick = args.quick
        self.select = getattr(args, "select", "validation")
        self.seeds = list(range(args.seeds if args.seeds is not None else (2 if args.quick else 5)))
        if not self.seeds:
            raise ConfigError("--seeds must be >= 1")
        # --seed-list: the seeds this invocation trains; the report still covers --seeds (a table split into lanes)
        chosen = parse_seed_list(getattr(args, "seed_list", None))
        if chosen is not None and set(chosen) - set(self.seeds):
            raise ConfigError(f"--seed-list: {sorted(set(chosen) - set(self.seeds))} outside the report's seeds "
                              f"{self.seeds} (--seeds {len(self.seeds)}): raise --seeds")
        self.train_seeds = self.seeds if chosen is None else chosen
        # the budgets --steps names (a bare number names every family) win over a recipe's
        self.steps, self.explicit_steps = parse_steps(args.steps, args.quick)
        self.training = R.parse_training(getattr(args, "recipe", None))
        if self.training and self.select != "validation":
            raise ConfigError("--recipe trains with validation and early stopping, and its result is the best "
                              "validated model: drop --select last, or drop --recipe")
        self.curve_points = args.curve_points if args.curve_points is not None else (2 if args.quick else 5)
        # None: the data layer's default ($UNIDGM_DATA, else ~/.cache/unidgm), left unnamed in the commands
        self.data_root = Path(args.data_root) if args.data_root else None
        self.main = args.data
        self.notes: list[str] = []
        if not _available(self.main, self.data_root):
            if not args.quick:
                from ...data import data_root
                raise ConfigError(f"{self.main} is not in the data root {data_root(self.data_root)}: pass --data-root "
                                  f"(e.g. ../shared/data), or --quick to smoke-test on the embedded digits")
            self.notes.append(f"{self.main} is absent from the data root, so this quick run uses the embedded "
                              "8x8 `digits` (1500 training images) with the sizes as fractions of it")
            self.main = "digits"
        sizes, gan_sizes = _sizes(args.sizes, "--sizes"), _sizes(args.gan_sizes, "--gan-sizes")
        comps = []
        if args.table in ("table2", "all"):
            comps += R.table2(sizes, gan_sizes)
        if args.table in ("table3", "all"):
            comps += R.table3(sizes)
        if getattr(args, "ablations", None):
            comps += R.ablations(comps, args.ablations)
        self.tables = ["table2", "table3"] if args.table == "all" else [args.table]
        self.eval = ({"n_samples": 200, "max_test": 200, "curve_test": 200, "curve_samples": 200} if args.quick else
                     {"n_samples": 10000, "curve_test": 2000, "curve_samples": 2000})
        only = _chosen("--only", getattr(args, "only", None), {c.base.key for c in comps}, "base model")
        models = _chosen("--models", getattr(args, "models", None), {r.key for c in comps for r in (c.base, c.ext)},
                         "model")
        self.comparisons, self.skipped, self.variants = [], [], {}
        self.to_train: set[str] = set()  # the variants this invocation trains (--only: its base models'; --models)
        self._n_total: dict[str, int] = {}
        svhn = None
        for c in comps:
            if c.data == "svhn":
                svhn = _available("svhn", self.data_root) if svhn is None else svhn
                if not svhn:
                    self.skipped.append((c, "skipped: no SVHN files in the data root"))
                    continue
            self.comparisons.append(c)
            for recipe in (c.base, c.ext):
                v = self.variant(recipe, c)
                self.variants.setdefault(v.name, v)
                if (not only or c.base.key in only) and (not models or recipe.key in models):
                    self.to_train.add(v.name)

    def dataset(self, c: R.Comparison) -> str:
        return self.main if c.data == "mnist" else c.data

    def n_total(self, data: str) -> int:
        if data not in self._n_total:
            from ...data import get_dataset
            self._n_total[data] = len(get_dataset(data, "train", self.data_root))
        return self._n_total[data]

    def variant(self, recipe: R.Recipe, c: R.Comparison) -> Variant:
        data = self.dataset(c)
        n = R.size_to_n(c.size, self.n_total(data))
        ablation = c.ablation is not None  # an ablation row may have a budget of its own (key family:ablations)
        named, steps = R.budget_for(self.explicit_steps, recipe.family, c.size, ablation)
        steps, batch = steps if named else self.steps[recipe.family], R.BATCH[recipe.family]
        training = R.training_for(self.training, recipe.family, c.size, ablation)
        if training and not named and not self.quick:  # its budget, unless --steps names one
            steps = R.recipe_steps(training, recipe.model) or steps
        if n is not None:
            batch = min(batch, n)
        pct = "all" if c.size is None else f"{c.size * 100:g}pct"
        name = f"{recipe.key}-{data}-{pct}-{steps}steps" + (f"-{training}" if training else "") + \
            ("-val" if self.select == "validation" else "") + ("-quick" if self.quick else "")
        return Variant(name, recipe.model, data, recipe.techniques,
                       R.train_overrides(recipe, n, steps, batch, self.quick, self.select, training),
                       recipe.metrics, self.curve_points, self.eval)

    def pair(self, c: R.Comparison) -> tuple[Variant, Variant]:
        return self.variant(c.base, c), self.variant(c.ext, c)

    def ordered(self) -> list[Variant]:
        """The variants to train, most expensive first (longest-job-first keeps parallel workers busy to the end)."""
        return sorted((v for v in self.variants.values() if v.name in self.to_train), key=run_cost_ms, reverse=True)
