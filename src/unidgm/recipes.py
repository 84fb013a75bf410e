"""Named training recipes: the settings that take a model to convergence, in one place.

A recipe is a set of ``key=value`` overrides per model family (the registry's family names), applied
*under* the user's own overrides (``unidgm train vae recipe=converged lr_schedule=cosine`` keeps the
cosine schedule). ``unidgm explain MODEL`` prints what each recipe sets for that model; the run folder's
config.json records the expanded values, so a run never depends on this file staying the same.

Every recipe selects on the validation split (``eval_every``), never on the test set. Budgets are in
steps: with batch 100 an epoch of MNIST's 55,000 training images (after the 5,000 held out) is 550 steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Recipe:
    name: str
    help: str
    by_family: dict = field(default_factory=dict)  # family (or "*") → {key: value}

    def overrides(self, family: str) -> dict:
        """This recipe's settings for a model family ("*" applies to every family, the family's own win)."""
        return {**self.by_family.get("*", {}), **self.by_family.get(family, {})}


_SELECT = {"eval_every": 2000, "patience": 10}
# Burda et al. decay lr 1e-3 by 10^(-1/7) per stage; a smooth exponential decay does the same per step without
# stages: x0.5 every 50k steps (~90 epochs)
_CONVERGED_VAE = {"batch_size": 100, "model.lr": 1e-3, "steps": 300000, "lr_schedule": "exp", "lr_decay": 0.5,
                  "lr_decay_every": 50000}
# M2's classifier accuracy settles within tens of thousands of steps (~100 ms each here), not the VAE's 300k:
# validate twice as often and stop after 8 flat validations, with a 50k-step cap (the reference M2 rows' settings)
SEMI_SUPERVISED = {"eval_every": 1000, "patience": 8, "steps": 50000}

RECIPES = {r.name: r for r in (
    Recipe("paper", "the paper's optimiser and batch settings (Sec. 6), a constant learning rate, selected on "
           "validation every 2000 steps (no early stopping)", {
               "*": {"eval_every": 2000},
               "VAE": {"batch_size": 100, "model.lr": 1e-3, "steps": 50000},
               "GAN": {"batch_size": 64, "model.lr": 2e-4, "steps": 20000},
           }),
    Recipe("converged", "a long budget, validated every few thousand steps and stopped when validation has not "
           "improved for several evaluations (the values below); the VAE family's learning rate decays; the best "
           "validated model is the run's result", {
               "*": _SELECT,
               "VAE": _CONVERGED_VAE,
               "GAN": {"batch_size": 64, "model.lr": 2e-4, "steps": 60000, "eval_every": 2500, "patience": 8},
           }),
    Recipe("semi-supervised", "for the semi-supervised VAE (M2), selected on validation accuracy: the converged "
           "recipe's optimiser and decay, validated every 1000 steps, stopped after 8 validations without "
           "improvement, capped at 50k steps (the accuracy settles long before the bound)", {
               "VAE": {**_CONVERGED_VAE, **SEMI_SUPERVISED},
           }),
    # chosen on the validation ELBO of MNIST 1% (seed 0; benchmarks/results/reference/vae-1pct-recipe.md):
    # 784-500-500-50 -135.4, 784-200-20 -125.7, + weight decay 0.1 -124.7, + dropout 0.3 -123.8, + both -123.0
    Recipe("small-data", "for a few hundred training images (MNIST 1%): a smaller net (784-200-20) with dropout "
           "0.3 and weight decay 0.1, KL warm-up, validation every 250 steps and early stopping, since the paper's "
           "784-500-500-50 net overfits 600 images within a few thousand steps", {
               "*": {"eval_every": 250, "patience": 12},
               "VAE": {"batch_size": 100, "model.lr": 1e-3, "steps": 30000, "model.hidden": [200],
                       "model.z_dim": 20, "kl_warmup": 2000, "model.dropout": 0.3, "weight_decay": 0.1},
           }),
    # chosen on the validation ELBO of MNIST 10% (benchmarks/results/reference/vae-10pct-recipe.md): the paper's net
    # -106.26 (seed 0) / -106.31 (seed 1), + weight decay 0.01 -105.97 / -106.03; small-data -113.78, + dropout
    # 0.1 -109.22. Every curve peaked near 10k steps and fell after, hence validation every 1000 and patience 8
    Recipe("moderate-data", "for a few thousand training images (MNIST 10%): the paper's 784-500-500-50 net with "
           "the converged recipe's optimiser and decay plus weight decay 0.01, validated every 1000 steps and "
           "stopped after 8 validations without improvement, since it peaks near 10k steps and then overfits", {
               "*": {"eval_every": 1000, "patience": 8},
               "VAE": {**_CONVERGED_VAE, "steps": 50000, "weight_decay": 0.01},
           }),
)}
RECIPE_NAMES = tuple(RECIPES)


def known_keys(sections: dict) -> set[str]:
    """Every key a run's config sections accept, as ``section.key`` and bare ``key`` (what a recipe may set)."""
    qualified = {f"{s}.{f}" for s, c in sections.items() for f in c.to_dict()}
    return qualified | {k.split(".", 1)[1] for k in qualified}


def recipe_overrides(name: str, family: str, known: set[str]) -> tuple[dict, list[str]]:
    """(the overrides recipe ``name`` sets for ``family`` that this model has, the keys it does not have)."""
    if name in (None, "", "none"):
        return {}, []
    wanted = RECIPES[name].overrides(family)
    keep = {k: v for k, v in wanted.items() if k in known or k.split(".", 1)[-1] in known}
    return keep, sorted(set(wanted) - set(keep))


def describe(family: str, known: set[str]) -> str:
    """What every recipe sets for a model of ``family`` (for ``unidgm explain``)."""
    lines = ["Recipes (recipe=NAME; your own overrides win):"]
    for r in RECIPES.values():
        keep, dropped = recipe_overrides(r.name, family, known)
        sets = " ".join(f"{k}={_fmt(v)}" for k, v in keep.items()) or "(nothing for this family)"
        lines.append(f"  {r.name}: {r.help}\n      sets {sets}" + (f"; n/a here: {', '.join(dropped)}" if dropped else ""))
    return "\n".join(lines)


def _fmt(v) -> str:
    return ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
