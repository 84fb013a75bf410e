"""The paper's objectives, one pure function per equation (Hu et al. 2018, Sec. 2-4).

Each function returns an :class:`Objective`: per-example values of what the equation *maximises*
(shape ``[batch]``), optional per-example weights, and named terms for logs. Weighting, averaging
and the sign flip happen in one place, :func:`loss_from`. Convention everywhere: ``y=1`` real,
``y=0`` generated; discriminators are given as logits of ``q_φ(y=1|x)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError


@dataclass
class Objective:
    """Per-example values to maximise, their weights and named terms to log — and the declared fields a
    technique may read (set by the objectives that have them, ``None`` elsewhere; see :data:`FIELDS`).

    Fields for importance weighting (Eq. 16), on the m generated samples of an Eq. 3 θ step:
    ``logit_fake`` [m] D's logits of q_φ(y=1|x_i); ``groups`` [m] the distribution each sample was drawn
    from (the label of a conditional generator, the direction of a translator), None for one;
    ``adversarial`` [m] the Eq. 3 term log q^r_φ(y=0|x_i) where ``value`` holds more than it (ACGAN's
    log q(c|x), InfoGAN's log q_η(z|x), a reconstruction), None when the samples' entries are that term
    alone; ``fake_at`` [m] the entry of ``value`` each sample's term is part of, None for entry i.
    Fields for adversary activation (Eq. 17), on an Eq. 12 step: ``is_real`` [n] 1 for real examples and
    0 for generated ones, ``q_r_y0`` [n] their weights q^r(y=0|x) before any normalisation.
    """

    value: Tensor
    weight: Tensor | None = None
    terms: dict[str, Tensor] = field(default_factory=dict)
    normaliser: float | None = None  # divide the weighted sum by this; default: len(value)
    logit_fake: Tensor | None = None
    groups: Tensor | None = None
    adversarial: Tensor | None = None
    fake_at: Tensor | None = None
    is_real: Tensor | None = None
    q_r_y0: Tensor | None = None

    def __add__(self, other: "Objective") -> "Objective":
        """Sum of two objectives over the same examples (e.g. task loss plus Eq. 3 term)."""
        if self.weight is not None or other.weight is not None:
            raise ValueError("add objectives before weighting them")
        return Objective(self.value + other.value, terms={**self.terms, **other.terms})

    @staticmethod
    def cat(*objectives: "Objective") -> "Objective":
        """Stack objectives over different examples (e.g. the real and generated halves of Eq. 3)."""
        values = torch.cat([o.value for o in objectives])
        weights = None
        if any(o.weight is not None for o in objectives):
            weights = torch.cat([o.weight if o.weight is not None else torch.ones_like(o.value)
                                 for o in objectives])
        terms: dict[str, Tensor] = {}
        for o in objectives:
            terms.update(o.terms)
        return Objective(values, weights, terms)


# what a technique may read from an Objective: every field but the four every objective has
FIELDS = frozenset(f.name for f in fields(Objective)) - {"value", "weight", "terms", "normaliser"}


@dataclass(frozen=True)
class Equation:
    """What a phase optimises: the paper's formula, and the KL it minimises (Table 1, Lemma 1, Lemma 2, Eq. 14)."""

    key: str
    formula: str
    kl: str = ""


EQUATIONS = {e.key: e for e in (
    Equation("eq3_phi", "Eq. 3 (φ): max E_{p_θ(x|y)p(y)}[log q_φ(y|x)]"),
    Equation("eq3_theta", "Eq. 3 (θ): max E_{p_θ(x|y)p(y)}[log q^r_φ(y|x)]", "KL(p_θ(x|y) ‖ q^r(x|y)) − JSD (Lemma 1)"),
    Equation("eq9_phi", "Eq. 9 (φ): max E[log q_η(z|x,y) q_φ(y|x)]"),
    Equation("eq9_theta", "Eq. 9 (θ,η): max E[log q_η(z|x,y) q^r_φ(y|x)]",
             "KL(p_θ(x|y) ‖ q^r(x|z,y)) (Lemma 1 with codes)"),
    Equation("eq12", "Eq. 12: max E[log p_θ(x|z,y)] − KL(q_η(z|x,y) q^r(y|x) ‖ p(z|y)p(y))",
             "KL(q_η(z|x,y) q^r_*(y|x) ‖ p_θ(z,y|x)) (Lemma 2)"),
    Equation("iwae", "IWAE: max log 1/k Σ_i p_θ(x,z_i)/q_η(z_i|x)", "KL to p_θ(z|x) of the k-sample proposal"),
    Equation("eq14_wake", "Eq. 14 wake: max_θ E_{q_λ(h|x)p_data(x)}[log p_θ(x|h)]", "KL(q_λ(h|x)p_data(x) ‖ p_θ(x,h))"),
    Equation("eq14_sleep", "Eq. 14 sleep: max_λ E_{p_θ(x|h)p(h)}[log q_λ(h|x)]", "KL(p_θ(x,h) ‖ q_λ(h|x)p(x))"),
    Equation("rws_wake_q", "reweighted wake-q: max_λ Σ_i w̃_i log q_λ(h_i|x), h_i ~ q_λ(h|x)", "KL(p_θ(h|x) ‖ q_λ(h|x))"),
    Equation("task", "supervised task loss on labelled (source) data"),
    Equation("cycle", "cycle reconstruction −‖G'(G(x)) − x‖₁"),
    Equation("recon", "reconstruction E_{q_η(z|x)}[log p_θ(x|z)]"),
)}

OVER = ("real", "fake", "both")


class PhaseObjective:
    """A phase's body ``fn(model, batch) -> Objective`` and what it declares: the equations it computes (the
    phase's role, for ``explain`` and Table 1), the :data:`FIELDS` it sets, the examples its values range over
    ('real', 'fake' or 'both'), whether it reads ``model.kl_weight`` (a KL warm-up), and whether it takes
    generated examples (``fn(model, batch, generated)``, the hook of Eq. 17). Config values are bound into
    ``fn`` when the model is built, so a body reads none at run time."""

    def __init__(self, fn: Callable, equations: str | tuple[str, ...], *, provides: tuple[str, ...] = (),
                 over: str = "real", anneals_kl: bool = False, takes_generated: bool = False):
        self.fn = fn
        self.equations = (equations,) if isinstance(equations, str) else tuple(equations)
        bad = [e for e in self.equations if e not in EQUATIONS]
        if bad:
            raise ValueError(f"unknown equation(s) {bad}; known: {', '.join(EQUATIONS)}")
        unknown = set(provides) - FIELDS
        if unknown:
            raise ValueError(f"{fn.__name__} provides {sorted(unknown)}, which Objective does not declare "
                             f"({', '.join(sorted(FIELDS))})")
        if over not in OVER:
            raise ValueError(f"over={over!r}: one of {OVER}")
        self.provides, self.over = frozenset(provides), over
        self.anneals_kl, self.takes_generated = anneals_kl, takes_generated
        self.__name__, self.__doc__ = fn.__name__, fn.__doc__

    def __call__(self, model, batch, generated=None) -> "Objective":
        return self.fn(model, batch, generated) if generated is not None else self.fn(model, batch)

    def derive(self, fn: Callable, **changes) -> "PhaseObjective":
        """The same declarations around a new body (a technique's wrapper), with ``changes`` applied."""
        kw = dict(provides=tuple(self.provides), over=self.over, anneals_kl=self.anneals_kl,
                  takes_generated=self.takes_generated)
        return PhaseObjective(fn, changes.pop("equations", self.equations), **{**kw, **changes})

    def __repr__(self) -> str:
        return f"PhaseObjective({self.__name__}, {'+'.join(self.equations)})"


def objective(equations: str | tuple[str, ...], **declared):
    """Decorator: ``@objective("eq3_phi")`` makes a function a :class:`PhaseObjective`."""
    return lambda fn: PhaseObjective(fn, equations, **declared)


@dataclass
class Generated:
    """Examples drawn from the current model and held fixed as data (Eq. 17), with the labels they were drawn under."""

    x: Tensor
    labels: Tensor | None = None


def loss_from(objective: Objective) -> Tensor:
    """The scalar loss that gradient *descent* minimises: −Σ_i w_i v_i / N.

    N is ``objective.normaliser`` if set (e.g. the number of real examples, so that the
    perfect discriminator's zero weights on generated samples leave the VAE loss unchanged),
    else the number of examples. Unit weights give the plain mean.
    """
    v = objective.value
    total = (v * objective.weight).sum() if objective.weight is not None else v.sum()
    n = objective.normaliser if objective.normaliser is not None else v.numel()
    return -total / n


# --- the discriminator and its reverse (Sec. 2.1) ----------------------------------------------

def log_q(logit_real: Tensor, y: int | Tensor) -> Tensor:
    """log q_φ(y|x) from the logit of q_φ(y=1|x) = D_φ(x), stably: log σ(±logit)."""
    y = torch.as_tensor(y, dtype=logit_real.dtype, device=logit_real.device)
    return F.logsigmoid((2 * y - 1) * logit_real)


def log_q_reversed(logit_real: Tensor, y: int | Tensor) -> Tensor:
    """log q^r_φ(y|x) = log q_φ(1−y|x): the reversed discriminator of Eq. 2."""
    y = torch.as_tensor(y, dtype=logit_real.dtype, device=logit_real.device)
    return log_q(logit_real, 1 - y)


# --- adversarial domain adaptation and GANs (Eq. 1-5) ------------------------------------------

def phi_objective_eq3(logit_real_on_real: Tensor, logit_real_on_fake: Tensor) -> Objective:
    """Eq. 3 for φ: max E_{p_θ(x|y)p(y)}[log q_φ(y|x)] — the discriminator recognises y.

    The expectation over p(y) (uniform) is the concatenation of both halves. KL direction:
    none; this is the sleep phase of Eq. 14 with h=y, λ=φ.
    """
    on_real = log_q(logit_real_on_real, 1)
    on_fake = log_q(logit_real_on_fake, 0)
    value = torch.cat([on_real, on_fake])
    return Objective(value, terms={"log_q_phi_real": on_real.mean().detach(),
                                   "log_q_phi_fake": on_fake.mean().detach()})


def theta_objective_eq3(logit_real_on_fake: Tensor, logit_real_on_real: Tensor | None = None) -> Objective:
    """Eq. 3 for θ: max E_{p_θ(x|y)p(y)}[log q^r_φ(y|x)] — recognise the *reversed* y.

    For GANs only y=0 depends on θ, giving the non-saturating loss max E_z[log D(G(z))] (Eq. 5);
    pass ``logit_real_on_real`` too when both domains carry θ (ADA's feature extractor).
    By Lemma 1 (Eq. 6) its gradient is that of KL(p_θ(x|y) ‖ q^r(x|y)) − JSD.
    """
    on_fake = log_q_reversed(logit_real_on_fake, 0)
    terms = {"log_qr_phi_fake": on_fake.mean().detach()}
    if logit_real_on_real is None:
        return Objective(on_fake, terms=terms)
    on_real = log_q_reversed(logit_real_on_real, 1)
    terms["log_qr_phi_real"] = on_real.mean().detach()
    return Objective(torch.cat([on_real, on_fake]), terms=terms)


def phi_step(discriminator, draw: Callable[[], tuple[tuple, tuple]]) -> Objective:
    """Eq. 3 for φ as every adversary's update runs it: ``draw()`` gives the discriminator's inputs for real and
    generated examples, computed without gradient (the opponents are held fixed), then φ recognises y on both."""
    with torch.no_grad():
        real, fake = draw()
    return phi_objective_eq3(discriminator(*real), discriminator(*fake))


def infogan_objective_eq9(adversarial: Objective, log_q_eta_z: Tensor) -> Objective:
    """Eq. 9: reconstruct the code z as well as y: log q_η(z|x,y) + log q_φ(y|x) (or q^r_φ for θ).

    ``adversarial`` is Eq. 3's φ or θ objective on the generated samples; ``log_q_eta_z`` is
    log q_η(z|x) of the codes that generated them (the mutual-information term of InfoGAN).
    """
    value = adversarial.value + log_q_eta_z
    return Objective(value, terms={**adversarial.terms, "log_q_eta_z": log_q_eta_z.mean().detach()})


# --- VAEs (Eq. 11-13, Lemma 2) and wake-sleep (Eq. 14) ------------------------------------------

def elbo_eq12(log_p_x_given_z: Tensor, kl_z: Tensor, q_r_y0: Tensor | None = None,
              normaliser: float | None = None, kl_weight: float = 1.0) -> Objective:
    """Eq. 12: E_{q_η(z|x,y) q^r(y|x)}[log p_θ(x|z,y)] − KL(q_η(z|x,y) q^r(y|x) ‖ p(z|y)p(y)).

    Per example: the ELBO ``log p̃_θ(x|z) − KL(q̃_η(z|x) ‖ p̃(z))`` weighted by q^r(y=0|x), the
    probability that the (reversed) discriminator routes x to the decoder branch y=0. With the
    perfect q_* that weight is 1 for real data and 0 for generated samples (Lemma 2: the textbook
    ELBO); with a learned q_φ it is D_φ(x) (Eq. 17, adversary activation). The y=1 branch's
    distributions are fixed, so it adds a constant and no gradient. Minimises
    KL(q_η(z|x,y) q^r_*(y|x) ‖ p_θ(z,y|x)).

    ``kl_weight`` < 1 (a KL warm-up, β annealing) trains on log p̃_θ(x|z) − β·KL; the logged ``elbo`` stays
    the true bound.
    """
    value = log_p_x_given_z - kl_z
    terms = {"elbo": value.mean().detach(), "log_p_x_given_z": log_p_x_given_z.mean().detach(),
             "kl_z": kl_z.mean().detach()}
    if kl_weight != 1.0:
        value = log_p_x_given_z - kl_weight * kl_z
        terms["kl_weight"] = torch.tensor(float(kl_weight))
    return Objective(value, weight=q_r_y0, normaliser=normaliser, terms=terms)


def iwae_bound(log_w: Tensor) -> Objective:
    """The k-sample importance weighted bound log 1/k Σ_i p(x,z_i)/q(z_i|x) (Burda et al.).

    ``log_w`` has shape [k, batch]; k=1 is the ELBO. The same bound, applied to log q(y) of the
    generator, gives IWGAN (Eq. 15).
    """
    k = log_w.shape[0]
    value = torch.logsumexp(log_w, dim=0) - math.log(k)
    return Objective(value, terms={"iwae_bound": value.mean().detach()})


def wake_objective_eq14(log_p_x_given_h: Tensor) -> Objective:
    """Eq. 14, wake: max_θ E_{q_λ(h|x)p_data(x)}[log p_θ(x|h)] (h sampled, not reparameterised)."""
    return Objective(log_p_x_given_h, terms={"wake_log_p_x_given_h": log_p_x_given_h.mean().detach()})


def rws_wake_q_objective(log_q_h_given_x: Tensor, weights: Tensor) -> Objective:
    """Reweighted wake-q (Bornschein & Bengio 2015): max_λ Σ_i w̃_i log q_λ(h_i|x), h_i ~ q_λ(h|x), with the
    normalised importance weights w̃_i [k, batch] held fixed — the sleep phase's KL turned around, KL(p_θ(h|x) ‖ q_λ(h|x))."""
    value = (weights * log_q_h_given_x).sum(0)
    return Objective(value, terms={"wake_q_log_q": value.mean().detach()})


def sleep_objective_eq14(log_q_h_given_x: Tensor) -> Objective:
    """Eq. 14, sleep: max_λ E_{p_θ(x|h)p(h)}[log q_λ(h|x)] on dreamed pairs (h, x)."""
    return Objective(log_q_h_given_x, terms={"sleep_log_q_h_given_x": log_q_h_given_x.mean().detach()})


# --- transferred techniques (Sec. 4) -----------------------------------------------------------

def iw_weights_eq16(logit_real_on_fake: Tensor, k: int | None = None, groups: Tensor | None = None) -> Tensor:
    """Eq. 16: w̃_i ∝ q^r_φ0(y|x_i)/q_φ0(y|x_i) normalised over each group of generated samples.

    For y=0, w_i = D(x_i)/(1−D(x_i)) = exp(logit D(x_i)), so w̃ is a softmax of the logits within a group,
    computed in log space and held constant in the gradient; scaled by the group's size so that uniform
    weights are exactly 1 (the base GAN) and the mean loss keeps its scale. A group is what the k samples of
    Eq. 15 share, one p_θ(x|y): ``groups`` gives each sample's group id (the label a conditional generator
    drew it under); without it, consecutive blocks of ``k`` samples (None: the whole batch) form the groups.
    """
    logits = logit_real_on_fake.detach()
    n = logits.shape[0]
    if groups is None:  # equal consecutive blocks: one softmax per row of a [n/k, k] view
        k = n if k is None else k
        if k < 1 or n % k:
            raise ConfigError(f"IW group size k={k} must divide the batch of {n} generated samples: "
                              "choose a k that divides batch_size")
        return (torch.softmax(logits.reshape(n // k, k), dim=1) * k).reshape(n)
    ids = groups.long()
    count_groups = int(ids.max()) + 1
    top = torch.full((count_groups,), -torch.inf, dtype=logits.dtype, device=logits.device)
    top = top.scatter_reduce(0, ids, logits, reduce="amax")
    e = torch.exp(logits - top[ids])
    total = torch.zeros(count_groups, dtype=logits.dtype, device=logits.device).index_add_(0, ids, e)
    count = torch.bincount(ids, minlength=count_groups).to(logits.dtype)
    return e / total[ids] * count[ids]


def aa_weights_eq17(logit_real: Tensor) -> Tensor:
    """Eq. 17: each example's ELBO is weighted by q^r_φ(y=0|x) = q_φ(y=1|x) = D_φ(x), held fixed."""
    return torch.sigmoid(logit_real.detach())
