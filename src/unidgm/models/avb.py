"""Adversarial variational Bayes (Mescheder et al. 2017): an implicit posterior z = f_η(x, ε).

The encoder takes noise as input, so q_η(z|x) has no density and KL(q_η(z|x) ‖ p(z)) cannot be
computed: a joint discriminator T(x, z) estimates the log density ratio log p(z)/q_η(z|x) (prior
codes y=1, inferred y=0, Eq. 3 over (x, z)), and the θ,η phase maximises the ELBO estimate
E_q[log p_θ(x|z) + T(x, z)]. The VAE recipe with an implicit q_η and ``match.z=adversarial``.
That estimate is named ``elbo_T`` in the log and in ``unidgm eval`` — T is learned, so it is no bound (it
underestimates large KLs); the comparable likelihood is AIS (``--metrics ais``), which needs no encoder.
"""

from dataclasses import dataclass

from ..config import checked, one_of, positive
from ..core import DataSpec, ImplicitEncoder, UnifiedModel
from ..nets import MLP
from ..registry import register_model
from .vae import VAEConfig, vae_model, vae_parts


@dataclass
class AVBConfig(VAEConfig):
    z_dim: int = checked(8, positive, "code size")
    match_z: str = checked("adversarial", one_of("kl", "adversarial"), "must stay adversarial: q_η has no density")
    noise_dim: int = checked(8, positive, "size of the encoder's input noise ε")


@register_model("avb", config=AVBConfig, family="VAE")
def build_avb(cfg: AVBConfig, spec: DataSpec) -> UnifiedModel:
    """Adversarial variational Bayes: implicit encoder, adversarial KL estimate."""
    encoder = ImplicitEncoder(MLP(spec.x_shape, (cfg.z_dim,), cfg.hidden, noise_dim=cfg.noise_dim), cfg.z_dim)
    # no "elbo": log p(x|z) + T(x, z) is an estimate from the critic, evaluated as elbo_T (eval/run.py)
    return vae_model("avb", cfg, spec, parts=vae_parts(cfg, spec, encoder=encoder), form="ratio")
