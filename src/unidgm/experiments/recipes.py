"""Each cell of the paper's Tables 2 and 3 as a short recipe, with the published number next to it.

A recipe is (model, techniques, overrides). The extended models are the base recipe plus one
switch: IWGAN = GAN + ``iw`` (Eq. 16), AA-VAE = VAE + ``aa`` (Eq. 17); nothing else changes, so
base and extended models always share networks, optimiser, batch size and number of steps.

Choices the paper leaves open, and what we do (all recorded in every report):

* **Networks.** VAE family: the library defaults, an MLP 784-500-500 with a 50-d Gaussian code
  and a Bernoulli decoder (the paper's MNIST VAE); SVAE adds an MLP classifier q(c|x) of the same
  widths and α = 50 for the labelled classification term. GANs: ``arch=auto``, which picks DCGAN for
  28x28 images, with Radford et al.'s Adam (lr 2e-4, β1 = 0.5).
* **AA (Eq. 17).** The library defaults: the learned q_φ(y|x) is an MLP 256-256 trained by Adam
  (lr 2e-4, β1 = 0.5) as in GANs; one generated decoder *sample* per real example, held fixed as
  data; each ELBO weighted by D_φ(x) as is (no normalisation, no warm-up).
* **IW (Eq. 16).** k = the whole minibatch (the paper: "the k samples are the minibatch").
* **Budget.** A fixed number of optimiser steps per family (``--steps``), the same for base and
  extended model; batch 100 for the VAE family (each step also sees 100 unlabelled examples for
  the SVAE), 64 for the GANs. No early stopping: the number reported is the model after the last
  step, and the training curves (the same metric at several checkpoints, on a fixed test subset)
  show whether a gain holds along training or only at one step count. The test set is never used
  for any choice.
* **Data.** "1%" = ``n_train=600``, a class-balanced subset drawn with the run's seed (10%: 6000;
  100%: all 60000). SVAE: ``n_labelled`` = 600/6000 labelled examples, the rest of the 60k training
  set unlabelled. Training data are binarised dynamically (a fresh Bernoulli draw per step); the
  test set once, with a fixed seed.
* **Metrics.** Test ELBO: the single-sample Monte-Carlo ELBO averaged over the 10k MNIST test set
  (nats). For the SVAE the reported bound is the *unlabelled* bound U(x) (the label summed out under
  q(c|x); test labels unseen), which is what the model's ``elbo`` computes. Inception score and
  conditional accuracy use the library's cached MNIST domain classifier (not Inception), 10 splits.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

# --- budgets ----------------------------------------------------------------------------------------

FAMILIES = ("vae", "svae", "gan")
DEFAULT_STEPS = {"vae": 5000, "svae": 5000, "gan": 5000}  # without --steps; the real runs set their own
QUICK_STEPS = {"vae": 8, "svae": 4, "gan": 4}
BATCH = {"vae": 100, "svae": 100, "gan": 64}
# --quick only: small networks, so that a smoke run of a whole table takes seconds (numbers meaningless)
QUICK_OVERRIDES = {"model.hidden": [64, 64], "model.z_dim": 8}
QUICK_TECHNIQUE_OVERRIDES = {"aa": {"aa.hidden": [32, 32]}, "iw": {}}


@dataclass(frozen=True)
class Recipe:
    """One model of a table: registry name, technique switches, overrides, budget family, metrics."""

    key: str                      # folder-safe id: vae, aa-vae, gan, iwgan ...
    label: str                    # the paper's name: VAE, AA-VAE, IWGAN ...
    model: str
    family: str                   # budget family: vae, svae, gan
    metrics: tuple[str, ...]      # what evaluate_run computes for every run of this recipe
    techniques: tuple[str, ...] = ()
    overrides: dict = field(default_factory=dict, hash=False, compare=False)

    def plus(self, technique: str, label: str, key: str) -> "Recipe":
        """The same recipe with one technique switched on (IWGAN = GAN + iw)."""
        return replace(self, key=key, label=label, techniques=(*self.techniques, technique))


VAE = Recipe("vae", "VAE", "vae", "vae", ("elbo",))
CVAE = Recipe("cvae", "CVAE", "cvae", "vae", ("elbo",))
SVAE = Recipe("svae", "SVAE", "svae", "svae", ("elbo", "ssl_accuracy"))
GAN = Recipe("gan", "GAN", "gan", "gan", ("inception_score", "fid"), overrides={"model.arch": "auto"})
CGAN = Recipe("cgan", "CGAN", "cgan", "gan", ("cond_accuracy", "inception_score"), overrides={"model.arch": "auto"})

AA_VAE = VAE.plus("aa", "AA-VAE", "aa-vae")
AA_CVAE = CVAE.plus("aa", "AA-CVAE", "aa-cvae")
AA_SVAE = SVAE.plus("aa", "AA-SVAE", "aa-svae")
IWGAN = GAN.plus("iw", "IWGAN", "iwgan")
IW_CGAN = CGAN.plus("iw", "IW-CGAN", "iw-cgan")

RECIPES = {r.key: r for r in (VAE, AA_VAE, CVAE, AA_CVAE, SVAE, AA_SVAE, GAN, IWGAN, CGAN, IW_CGAN)}


# --- the paper's comparisons --------------------------------------------------------------------------

@dataclass(frozen=True)
class Comparison:
    """One published pair: base vs extended model in one setting, scored by one metric."""

    table: str                    # table2-left, table2-middle, table2-right, table3
    setting: str                  # the row as the paper labels it: "1%", "MNIST" ...
    data: str                     # mnist or svhn
    size: float | None            # fraction of the training set (None: all of it)
    base: Recipe
    ext: Recipe
    metric: str                   # elbo, inception_score, cond_accuracy, ssl_accuracy
    paper_base: tuple[float, float | None] | None
    paper_ext: tuple[float, float | None] | None
    ablation: str | None = None   # what the extended model changes beyond the paper's (an ablation row)

    @property
    def key(self) -> str:
        return f"{self.table}/{self.setting}/{self.base.key}" + (f"/{self.ext.key}" if self.ablation else "")

    @property
    def paper_gain(self) -> float | None:
        if self.paper_base is None or self.paper_ext is None:
            return None
        return self.paper_ext[0] - self.paper_base[0]


METRIC_TEXT = {"elbo": "test ELBO (nats)", "inception_score": "inception score (domain classifier)",
               "cond_accuracy": "conditional-generation accuracy", "ssl_accuracy": "test accuracy"}
SIZES = {1: 0.01, 10: 0.10, 100: None}

# Table 3: test lower bound (nats) on MNIST; SVAE only at 1% and 10%
TABLE3 = {
    1: {"vae": -122.89, "aa-vae": -122.15, "cvae": -125.44, "aa-cvae": -122.88, "svae": -108.22, "aa-svae": -107.61},
    10: {"vae": -104.49, "aa-vae": -103.05, "cvae": -102.63, "aa-cvae": -101.63, "svae": -99.44, "aa-svae": -98.81},
    100: {"vae": -92.53, "aa-vae": -92.42, "cvae": -93.16, "aa-cvae": -92.75},
}
TABLE2_LEFT = {"mnist": ((8.34, 0.03), (8.45, 0.04)), "svhn": ((5.18, 0.03), (5.34, 0.03))}
TABLE2_MIDDLE = {"mnist": ((0.985, 0.002), (0.987, 0.002)), "svhn": ((0.797, 0.005), (0.798, 0.006))}
TABLE2_RIGHT = {1: (0.9412, 0.9425), 10: (0.9768, 0.9797)}


def table3(sizes=(1, 10, 100)) -> list[Comparison]:
    out = []
    for pct in sizes:
        for base, ext in ((VAE, AA_VAE), (CVAE, AA_CVAE), (SVAE, AA_SVAE)):
            paper = TABLE3.get(pct, {})
            if base.key not in paper:
                continue  # the paper has no SVAE at 100% (no unlabelled data left)
            out.append(Comparison("table3", f"{pct}%", "mnist", SIZES[pct], base, ext, "elbo",
                                  (paper[base.key], None), (paper[ext.key], None)))
    return out


def table2(sizes=(1, 10), gan_sizes=(100,), datasets=("mnist", "svhn")) -> list[Comparison]:
    """Left (GAN vs IWGAN) and middle (CGAN vs IW-CGAN) per dataset and training fraction; right
    (SVAE vs AA-SVAE accuracy) per label fraction. The paper's GAN rows use all training data; other
    fractions (``gan_sizes``) are extra rows with no published number."""
    out = []
    for data in datasets:
        for pct in gan_sizes if data == "mnist" else (100,):  # extra fractions on MNIST only
            setting = data.upper() if pct == 100 else f"{data.upper()} {pct}%"
            own = pct == 100
            left, mid = TABLE2_LEFT[data], TABLE2_MIDDLE[data]
            out.append(Comparison("table2-left", setting, data, SIZES.get(pct, pct / 100), GAN, IWGAN,
                                  "inception_score", left[0] if own else None, left[1] if own else None))
            out.append(Comparison("table2-middle", setting, data, SIZES.get(pct, pct / 100), CGAN, IW_CGAN,
                                  "cond_accuracy", mid[0] if own else None, mid[1] if own else None))
    for pct in sizes:
        if pct in TABLE2_RIGHT:
            b, e = TABLE2_RIGHT[pct]
            out.append(Comparison("table2-right", f"{pct}%", "mnist", SIZES[pct], SVAE, AA_SVAE, "ssl_accuracy",
                                  (b, None), (e, None)))
    return out


def train_overrides(recipe: Recipe, n: int | None, steps: int, batch: int, quick: bool = False,
                    select: str = "validation", training: str | None = None) -> dict:
    """The training overrides of one run: budget and data size (n examples, or labels for the SVAE); with
    ``select="validation"`` the run validates 20 times and its best validated model is the one evaluated.
    ``training`` names a training recipe (``unidgm.recipes``, e.g. converged or small-data) for base and
    extended model alike: its schedule, validation cadence and early stopping, with ``steps`` as the cap."""
    ov = {**recipe.overrides, "steps": steps, "batch_size": batch}
    if training:
        ov = {"recipe": training, **ov}
    elif select == "validation":
        ov["eval_every"] = max(1, steps // 20)
    if quick:
        ov.update(QUICK_OVERRIDES)
        for t in recipe.techniques:
            ov.update(QUICK_TECHNIQUE_OVERRIDES.get(t, {}))
    if n is not None:
        ov["n_labelled" if recipe.model == "svae" else "n_train"] = n
    return ov


# Ablations a reader of the paper asks for (--ablations): each a config value of the technique, a row of its own
# next to the paper's pair, never a silent change of the default. (label, key suffix, overrides)
ABLATIONS = {
    "aa-vae": (("warm-up 1000 steps", "warmup1000", {"aa.warmup": 1000}),
               ("D(x) / its batch mean", "normmean", {"aa.normalise": "mean"}),
               ("2 generated per real", "ratio2", {"aa.ratio": 2.0})),
    "aa-svae": (("only samples the classifier labels as requested; beyond the paper", "agree", {"aa.agree": True}),
                ("D trained on the labelled images only, as before 2026-12-07", "labelled-d", {"aa.real": "labelled"}),
                ("warm-up 1000 steps", "warmup1000", {"aa.warmup": 1000})),
    "iwgan": (("tempered, τ = 0.5", "tau0.5", {"iw.temper": 0.5}), ("groups of k = 8", "k8", {"iw.k": 8})),
    "iw-cgan": (("tempered, τ = 0.5", "tau0.5", {"iw.temper": 0.5}),),
}
ABLATIONS["aa-cvae"] = ABLATIONS["aa-vae"]
ABLATION_NAMES = tuple(dict.fromkeys(suffix for rows in ABLATIONS.values() for _, suffix, _ in rows))


def ablations(comps: list[Comparison], names: str = "all") -> list[Comparison]:
    """The ablation rows of ``comps``: the same base model against the extended one with one setting changed
    (no published number; the base model's runs are shared with the paper's pair). ``names``: "all", or some of
    ``ABLATION_NAMES``, comma-separated (``--ablations ratio2``)."""
    from ..errors import ConfigError
    wanted = set(ABLATION_NAMES) if names == "all" else {n.strip() for n in names.split(",") if n.strip()}
    if not wanted or wanted - set(ABLATION_NAMES):
        raise ConfigError(f"--ablations: unknown {', '.join(sorted(wanted - set(ABLATION_NAMES))) or 'empty list'}; "
                          f"give --ablations alone for all, or some of {','.join(ABLATION_NAMES)}")
    out = []
    for c in comps:
        for label, suffix, overrides in ABLATIONS.get(c.ext.key, ()):
            if suffix not in wanted:
                continue
            ext = replace(c.ext, key=f"{c.ext.key}-{suffix}", label=f"{c.ext.label} ({label})",
                          overrides={**c.ext.overrides, **overrides})
            out.append(replace(c, ext=ext, paper_base=None, paper_ext=None, ablation=label))
    return out


ABLATION_BUDGET = ":ablations"  # a key suffix of --steps and --recipe: the budget of the ablation rows only


def budget_key(key: str, what: str, example: str) -> str:
    """A ``--steps``/``--recipe`` key ``family[@PCT][:ablations]``, checked and normalised (``vae@01`` → ``vae@1``)."""
    from ..errors import ConfigError
    key = key.strip()
    body, colon, scope = key.partition(":")
    if colon and f":{scope.strip()}" != ABLATION_BUDGET:
        raise ConfigError(f"{what}: {key!r}: after ':' only 'ablations' (the ablation rows' own budget, e.g. "
                          f"{example})")
    fam, at, pct = (part.strip() for part in body.partition("@"))
    if fam not in FAMILIES:
        raise ConfigError(f"{what}: unknown family {fam!r}; families: {', '.join(FAMILIES)}")
    if at and not (pct.isdigit() and int(pct) > 0):
        raise ConfigError(f"{what}: {key!r}: after @ give a training-data percentage, e.g. vae@1=...")
    return (f"{fam}@{int(pct)}" if at else fam) + (ABLATION_BUDGET if colon else "")


def parse_training(text: str | None) -> dict[str, str | None]:
    """``--recipe``: one training recipe for every family, or ``family=NAME`` pairs (vae=small-data,gan=converged),
    a pair with ``@PCT`` for one training-data percentage only (``vae@1=small-data,vae=converged``: the small-data
    recipe at 1%, converged at every other size), and with ``:ablations`` for the ablation rows only
    (``svae:ablations=none``: those rows train as before while the main rows use the family's recipe); families
    left out, and ``none``, train as before (fixed steps, validated 20 times). Keys: ``family[@PCT][:ablations]``."""
    from ..errors import ConfigError
    from ..recipes import RECIPE_NAMES
    if not text:
        return {}
    pairs = [item.partition("=") for item in text.split(",")] if "=" in text else [(f, "=", text) for f in FAMILIES]
    out = {}
    for key, _, name in pairs:
        key = budget_key(key, "--recipe", "svae:ablations=none")
        name = name.strip()
        if name not in RECIPE_NAMES + ("none",):
            raise ConfigError(f"--recipe: unknown recipe {name!r}; recipes: {', '.join(RECIPE_NAMES)}, none")
        out[key] = None if name == "none" else name
    return out


def budget_for(spec: dict, family: str, size: float | None, ablation: bool = False):
    """The entry of a parsed ``--recipe``/``--steps`` spec for ``family`` at training fraction ``size`` (None: all
    data), most specific first: an ablation row's own (``family@PCT:ablations``, ``family:ablations``), then the
    size's (``family@PCT``), then the family's. Returns (found, value)."""
    pct = 100 if size is None else round(size * 100)
    keys = [f"{family}@{pct}{ABLATION_BUDGET}", f"{family}{ABLATION_BUDGET}"] * ablation + [f"{family}@{pct}", family]
    for k in keys:
        if k in spec:
            return True, spec[k]
    return False, None


def training_for(training: dict, family: str, size: float | None, ablation: bool = False) -> str | None:
    """The recipe ``parse_training``'s result names for ``family`` at training fraction ``size`` (``budget_for``)."""
    return budget_for(training, family, size, ablation)[1]


def recipe_steps(training: str, model: str) -> int | None:
    """The step budget a training recipe sets for ``model``'s family (None if it sets none)."""
    from .. import models as _zoo  # noqa: F401  (registers the zoo)
    from ..recipes import RECIPES
    from ..registry import MODELS
    return RECIPES[training].overrides(MODELS.get(model).family).get("steps")


def size_to_n(size: float | None, n_total: int, num_classes: int = 10) -> int | None:
    """A training fraction as a class-balanced count (a multiple of the classes); None: everything."""
    if size is None or size >= 1:
        return None
    n = int(round(size * n_total / num_classes)) * num_classes
    return max(num_classes, n)
