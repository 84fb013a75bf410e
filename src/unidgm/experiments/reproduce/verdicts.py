"""The statistics of one reproduced cell: per-seed values, the paired gain (extended − base, same
seed), its standard error, the gain at every checkpoint of the curves, and the verdict."""

from __future__ import annotations

import math

from ...eval.table import summarise
from ...train.rundir import wall_at
from .. import recipes as R
from ..sweep import collect
from .plan import Plan

VERDICT_RULE = (
    "Every published gain is positive (higher is better for all four metrics), so the claim tested is "
    "*extended > base*. With g = mean over seeds of the paired difference (extended − base, same seed, "
    "so the same data subset) and SE = its standard deviation / √n: **reproduced** — g > 0, g > 2·SE, "
    "and the gain along the curves is positive at every checkpoint of the second half of training "
    "(the curves are the runs' validation rows when they select on validation, so the test set is read once; "
    "a fixed test subset for --select last); **direction reproduced** — g > 0 but not significant or not positive "
    "along the whole second half; **not reproduced** — g ≤ 0. The absolute level is reported next to "
    "the paper's but does not enter the verdict (our budgets are far below the paper's).")


def compare(plan: Plan, c: R.Comparison, runs) -> dict:
    """Numbers of one comparison: per-model values, paired gain, curve gains, verdict."""
    vb, ve = plan.pair(c)
    base, ext = collect(runs, vb, plan.seeds), collect(runs, ve, plan.seeds)
    m = c.metric
    bvals = dict(zip(base["seeds"], base["metrics"].get(m, [])))
    evals = dict(zip(ext["seeds"], ext["metrics"].get(m, [])))
    common = sorted(set(bvals) & set(evals))
    diffs = [evals[s] - bvals[s] for s in common]
    row = {"comparison": c, "base_variant": vb.name, "ext_variant": ve.name, "base": list(bvals.values()),
           "ext": list(evals.values()), "diffs": diffs, "steps": vb.steps, "batch": vb.overrides["batch_size"],
           "n": vb.overrides.get("n_train", vb.overrides.get("n_labelled")), "data": vb.data,
           "recipe": vb.overrides.get("recipe"), "steps_done": base["steps_done"] + ext["steps_done"],
           "best_steps": base["best_steps"] + ext["best_steps"],
           "train_s": base["train_s"] + ext["train_s"], "curve": _curve_gain(base, ext, m, vb.steps),
           "equal_time": equal_time(base, ext, m)}
    if diffs:
        g, sd, se = paired_gain(diffs)
        row.update(gain=g, gain_sd=sd, gain_se=se, verdict=verdict(diffs, row["curve"]["late_gains"]))
    else:
        row.update(gain=None, gain_sd=None, gain_se=None, verdict="not run")
    return row


def paired_gain(diffs: list[float]) -> tuple[float, float, float]:
    """(mean, sd, SE) of the per-seed paired gains; one seed has no spread to judge by: SE = inf."""
    g, sd = summarise(diffs)
    return g, sd, sd / math.sqrt(len(diffs)) if len(diffs) > 1 else float("inf")


def verdict(diffs: list[float], late_gains: list[float]) -> str:
    """VERDICT_RULE: ``diffs`` are the per-seed paired gains at the last step, ``late_gains`` the mean
    gains at the checkpoints of the second half of training."""
    if not diffs:
        return "not run"
    g, _, se = paired_gain(diffs)
    if g <= 0:
        return "not reproduced"
    if g > 2 * se and late_gains and all(x > 0 for x in late_gains):
        return "reproduced"
    return "direction reproduced"


def _curve_gain(base: dict, ext: dict, metric: str, steps: int) -> dict:
    """Mean curves over seeds and the gain at each checkpoint present in every seed of both models."""
    def mean_curve(curves):
        per_step: dict[int, list] = {}
        for cv in curves:
            for p in cv["points"]:
                if metric in p:
                    per_step.setdefault(p["step"], []).append(p[metric])
        return {s: v for s, v in sorted(per_step.items()) if len(v) == len(curves)}
    mb, me = mean_curve(base["curves"]), mean_curve(ext["curves"])
    steps_common = sorted(set(mb) & set(me))
    gains = {s: sum(me[s]) / len(me[s]) - sum(mb[s]) / len(mb[s]) for s in steps_common}
    # the second half of the curves as they are: an early-stopped run's curve ends before ``steps``
    late = [s for s in steps_common if s >= (max(steps_common) if steps_common else steps) / 2]
    return {"base": mb, "ext": me, "gain": gains, "positive": sum(g > 0 for g in gains.values()),
            "total": len(gains), "late_gains": [gains[s] for s in late]}


def equal_time(base: dict, ext: dict, metric: str) -> dict | None:
    """The comparison at equal wall clock instead of equal steps (AA and IW cost extra per step): per seed,
    T = the shorter of the two runs' training times, and each model's best *validation* value reached within T
    (the test set is not read); None unless both models validated and logged their timing. Every metric of the
    tables is higher-is-better."""
    per = []
    for s in sorted(set(base["by_seed"]) & set(ext["by_seed"])):
        b, e = base["by_seed"][s], ext["by_seed"][s]
        if not (b["wall"] and e["wall"]):
            continue
        t = min(b["wall"][-1][1], e["wall"][-1][1])
        vb, ve = _best_within(b, metric, t), _best_within(e, metric, t)
        if vb is not None and ve is not None:
            per.append((s, t, vb, ve))
    if not per:
        return None
    diffs = [ve - vb for _, _, vb, ve in per]
    g, sd, se = paired_gain(diffs)
    return {"seeds": [p[0] for p in per], "seconds": [round(p[1], 1) for p in per], "base": [p[2] for p in per],
            "ext": [p[3] for p in per], "diffs": diffs, "gain": g, "gain_sd": sd, "gain_se": se}


def _best_within(run: dict, metric: str, seconds: float) -> float | None:
    """The best validation value of ``metric`` a run had reached after ``seconds`` of training."""
    curve = run["curve"]
    if not curve or curve.get("source") != "validation":
        return None
    reached = []
    for p in curve["points"]:
        t = wall_at(run["wall"], p["step"])
        if metric in p and t is not None and t <= seconds:
            reached.append(p[metric])
    return max(reached) if reached else None
