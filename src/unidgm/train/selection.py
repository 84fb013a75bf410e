"""Model selection inside a run: the best validated model, early stopping, and the step-wise schedules.

The loop asks a *validator* (a callable built by the API from the held-out validation split; the loop
never sees data or metrics code) for ``{"val/<metric>": value}`` every ``eval_every`` steps.
:class:`Selection` keeps the best value, its step and the validations since, so the loop knows when to
save the best model and when patience is spent; its state travels in every checkpoint, so a resumed run
makes the same choices as an uninterrupted one.

Schedules are pure functions of the step (no scheduler state to save): the learning-rate factor and the
KL weight of Eq. 12 at step t are recomputed from the config, which keeps resume bit-exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

@dataclass
class Selection:
    """Best-so-far tracking of one validation metric (``key``, e.g. ``val/elbo``)."""

    key: str
    higher_is_better: bool = True
    best: float | None = None
    best_step: int | None = None
    since_best: int = 0  # validations since the best one
    history: list = field(default_factory=list)  # [(step, value)]

    def update(self, step: int, value: float) -> bool:
        """Record a validation; True when it is a new best (strictly better; NaN never is)."""
        self.history.append((step, value))
        better = value == value and (self.best is None or
                                     (value > self.best if self.higher_is_better else value < self.best))
        if better:
            self.best, self.best_step, self.since_best = value, step, 0
        else:
            self.since_best += 1
        return better

    def exhausted(self, patience: int | None) -> bool:
        return patience is not None and self.since_best >= patience

    def state_dict(self) -> dict:
        return {"key": self.key, "higher_is_better": self.higher_is_better, "best": self.best,
                "best_step": self.best_step, "since_best": self.since_best, "history": [list(h) for h in self.history]}

    @classmethod
    def from_state(cls, state: dict) -> "Selection":
        return cls(state["key"], bool(state["higher_is_better"]), state.get("best"), state.get("best_step"),
                   int(state.get("since_best", 0)), [tuple(h) for h in state.get("history", [])])

    def summary(self) -> dict:
        """What ``RUN/best.json`` holds."""
        return {"metric": self.key, "value": self.best, "step": self.best_step,
                "higher_is_better": self.higher_is_better, "validations": len(self.history)}


def lr_factor(cfg, step: int) -> float:
    """The learning rate at ``step`` (0-based, the step about to run) as a fraction of each phase's own lr.

    Linear warm-up over ``warmup_steps``, then ``lr_schedule`` over the remaining steps: constant; cosine
    from 1 to ``lr_min``; step (× ``lr_decay`` every ``lr_decay_every`` steps); exp (the same decay, smooth).
    """
    warm = cfg.warmup_steps
    if warm and step < warm:
        return (step + 1) / warm
    t = step - warm
    if cfg.lr_schedule == "cosine":
        span = max(1, cfg.steps - warm)
        return cfg.lr_min + (1 - cfg.lr_min) * 0.5 * (1 + math.cos(math.pi * min(t, span) / span))
    if cfg.lr_schedule == "step":
        return cfg.lr_decay ** (t // cfg.lr_decay_every)
    if cfg.lr_schedule == "exp":
        return cfg.lr_decay ** (t / cfg.lr_decay_every)
    return 1.0


def kl_weight(cfg, step: int) -> float:
    """β of Eq. 12's KL term at ``step``: linear from 0 to 1 over ``kl_warmup`` steps (KL warm-up)."""
    return 1.0 if not cfg.kl_warmup else min(1.0, (step + 1) / cfg.kl_warmup)


def schedules_used(cfg) -> bool:
    return cfg.lr_schedule != "constant" or cfg.warmup_steps > 0
