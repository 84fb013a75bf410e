"""Semi-supervised VAE, "M2" (Kingma et al. 2014), as Eq. 12 over labelled and unlabelled data.

Labelled (x, c): L(x,c) = E_q[log p_θ(x|z,c)] − KL(q_η(z|x,c) ‖ p(z)) + log p(c) + α log q(c|x).
Unlabelled x: U(x) = Σ_c q(c|x) [L(x,c) without the α term] + H(q(c|x)); the classifier q(c|x) is
an inference part. Each example is weighted by q^r(y=0|x) (q_*: 1 on data), so adversary
activation (AA-SVAE, Eq. 17) adds generated samples with their labels, which train the
classifier too. Test ELBO is U(x) (labels unseen); accuracy is q(c|x)'s.

How the two halves and the α term are weighed (``weighting``; N_l labelled, N_u unlabelled, N = N_l + N_u):

- ``kingma`` (Kingma et al. 2014, their J^α): the sums over the training set, Σ_l L + Σ_u U + α Σ_l log q(c|x)
  with α = 0.1·N, estimated per datum (÷N) from a batch of each: (N_l/N)·mean_l[L + (α/N_l) log q] + (N_u/N)·mean_u[U].
- ``balanced``: each half averaged over its batch and the two added 1 : 1, mean_l[L + α log q] + mean_u[U], α = 50.

Mapping: kingma with α_K equals (N_l/N) × balanced with α = α_K/N_l and the unlabelled half weighted N_u/N_l
(1% of MNIST, N_l = 600: α = 10, unlabelled ×99). ``alpha`` sets α in the chosen convention's own units; None
takes the convention's default. The default convention was chosen by validation accuracy
(``benchmarks/m2_alpha.py``, results in ``benchmarks/results/m2-alpha.md``).
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..config import checked, one_of, positive
from ..errors import ConfigError
from ..core import CategoricalEncoder, DataSpec, GaussianEncoder, Generated, Objective, PhaseObjective, UnifiedModel
from ..core.games import elbo_terms, real_weights, with_generated
from ..nets import MLP
from ..registry import register_model
from .gan import need_labels
from .vae import VAEConfig, vae_model, vae_parts


@dataclass
class SVAEConfig(VAEConfig):
    weighting: str = checked("balanced", one_of("balanced", "kingma"),
                             "how the labelled and unlabelled halves weigh: kingma (sums over the training set, N_l : N_u, "
                             "α = 0.1·N; Kingma et al. 2014) or balanced (each half's batch mean, 1 : 1, α = 50)")
    alpha: float | None = checked(None, positive, "weight α of the classification term α log q(c|x) in the chosen "
                                  "weighting's units (None: its default, 0.1·N for kingma, 50 for balanced)")


def _half_weights(model: UnifiedModel, weighting: str, alpha: float | None) -> tuple[float, float, float]:
    """(α per labelled example, weight of the labelled mean, weight of the unlabelled mean) of ``weighting``."""
    if weighting == "balanced":
        return (50.0 if alpha is None else alpha), 1.0, 1.0
    n_l, n_u = model.stream_sizes.get("x"), model.stream_sizes.get("x_u")
    if not n_l or n_u is None:
        raise ConfigError("svae weighting=kingma weighs the halves by their sizes N_l : N_u, which this model "
                          "was not given; train it through unidgm.train, or pass model.weighting=balanced")
    n = n_l + n_u
    alpha = 0.1 * n if alpha is None else alpha
    return alpha / n_l, n_l / n, n_u / n


def unlabelled_bound(model: UnifiedModel, x):
    """U(x) per example, and q(c|x): the label is summed out under the classifier."""
    n, k = x.shape[0], model.num_classes
    logits = model["classifier"](x)
    probs = logits.softmax(-1)
    log_px, kl, _, _ = elbo_terms(model, x, None, each=torch.eye(k, device=x.device))  # label-major [k·n]
    per_label = (log_px - kl).reshape(k, n).T - math.log(k)  # + log p(c), uniform
    entropy = -(probs * logits.log_softmax(-1)).sum(-1)
    return (probs * per_label).sum(-1) + entropy


def m2_objective(weighting: str, alpha: float | None) -> PhaseObjective:
    """M2's bound as Eq. 12 over two streams, the halves weighed by ``weighting`` (module docstring)."""
    def m2(model: UnifiedModel, batch, generated: Generated | None = None) -> Objective:
        """Eq. 12 on labelled (x, c) — with generated examples and their labels joining them (Eq. 17) — and on
        unlabelled x_u: L(x, c) + α log q(c|x) and U(x_u), whole bounds per example (each with its KL), each
        weighted by q^r(y=0|x) and averaged over its half's real examples."""
        a, a_l, a_u = _half_weights(model, weighting, alpha)
        x, labels, is_real = with_generated(batch["x"], batch["c"], generated)
        c = model.onehot(labels, x.shape[0])
        log_px, kl, _, _ = elbo_terms(model, x, c)
        log_q_c = model["classifier"].log_prob(labels, x)
        labelled = log_px - kl - math.log(model.num_classes) + a * log_q_c
        unlabelled = unlabelled_bound(model, batch["x_u"])
        (w_l, n_l), (w_u, n_u) = real_weights(model, x, c, is_real), real_weights(model, batch["x_u"], None, None)
        w_l = torch.ones_like(labelled) if w_l is None else w_l  # None: every example real (q_*)
        w_u = torch.ones_like(unlabelled) if w_u is None else w_u
        terms = {"labelled_bound": (log_px - kl).mean().detach(), "unlabelled_bound": unlabelled.mean().detach(),
                 "log_q_c": log_q_c.mean().detach(), "kl_z_labelled": kl.mean().detach(),
                 "elbo": unlabelled.mean().detach()}
        return Objective(torch.cat([labelled, unlabelled]), torch.cat([w_l * (a_l / n_l), w_u * (a_u / n_u)]),
                         terms, normaliser=1.0, is_real=is_real, q_r_y0=w_l)
    return PhaseObjective(m2, "eq12", provides=("is_real", "q_r_y0"), takes_generated=True)


def svae_log_weights(model: UnifiedModel, x, k: int, labels=None):
    """log p(x,z,c) − log q(z|x,c)q(c|x) for (z, c) ~ q, shape [k, batch]: the label is latent too."""
    logits = model["classifier"](x).log_softmax(-1)
    c_idx = torch.distributions.Categorical(logits=logits).sample((k,))  # [k, B]
    log_qc = logits.unsqueeze(0).expand(k, -1, -1).gather(-1, c_idx.unsqueeze(-1)).squeeze(-1)
    c = F.one_hot(c_idx.reshape(-1), model.num_classes).float()
    xk = x.repeat(k, *[1] * (x.dim() - 1))
    z, mean, log_var = model["encoder"].rsample(xk, c)
    log_w = (model["decoder"].log_prob(xk, z, c) + model["prior"].log_prob(z)
             - GaussianEncoder.log_prob_of(z, mean, log_var) - math.log(model.num_classes))
    return log_w.reshape(k, -1) - log_qc


@register_model("svae", config=SVAEConfig, family="VAE")
def build_svae(cfg: SVAEConfig, spec: DataSpec) -> UnifiedModel:
    """Semi-supervised VAE (M2): labelled + unlabelled data, classifier q(c|x)."""
    k = need_labels(spec, "svae")
    parts = vae_parts(cfg, spec, cond=k)
    parts["classifier"] = CategoricalEncoder(MLP(spec.x_shape, (k,), cfg.hidden), k)
    methods = {"elbo": lambda m, x, labels=None: unlabelled_bound(m, x),
               "log_weights": svae_log_weights}
    return vae_model("svae", cfg, spec, conditional=True, parts=parts, objective=m2_objective(cfg.weighting, cfg.alpha),
                     extra_parts=("classifier",), streams=("x", "c", "x_u"), methods=methods,
                     tools=("kl",))  # its bounds use the closed-form KL for each label
