"""IWAE (Burda et al. 2016): the VAE trained on the k-sample importance weighted bound.

Only the phase's estimator changes: log 1/k Σ_i p_θ(x,z_i)/q_η(z_i|x) instead of Eq. 12's single
sample; k=1 is the VAE. The same bound read on the generator side of a GAN gives IWGAN (Eq. 15).
"""

from dataclasses import dataclass

from ..config import checked, positive
from ..core import DataSpec, Generated, Objective, PhaseObjective, UnifiedModel, iwae_bound
from ..core.games import real_weights, with_generated
from ..registry import register_model
from .vae import VAEConfig, vae_model


@dataclass
class IWAEConfig(VAEConfig):
    k: int = checked(5, positive, "importance samples per example in the training bound")


def iwae_objective(k: int) -> PhaseObjective:
    """The k-sample bound per example, weighted like Eq. 12 by q^r(y=0|x) (so adversary activation applies)."""
    def bound(model: UnifiedModel, batch, generated: Generated | None = None) -> Objective:
        """The k-sample bound on each real example (log weights from the generic explicit model); with generated
        examples (Eq. 17), each example's bound weighted by q^r(y=0|x), normalised by the real ones."""
        if generated is None:
            return iwae_bound(model.log_weights(batch["x"], k))
        x, _, is_real = with_generated(batch["x"], None, generated)
        obj = iwae_bound(model.log_weights(x, k))
        obj.weight, obj.normaliser = real_weights(model, x, None, is_real)
        obj.is_real, obj.q_r_y0 = is_real, obj.weight
        return obj
    return PhaseObjective(bound, "iwae", provides=("is_real", "q_r_y0"), takes_generated=True)


@register_model("iwae", config=IWAEConfig, family="VAE")
def build_iwae(cfg: IWAEConfig, spec: DataSpec) -> UnifiedModel:
    """IWAE: k-sample importance weighted bound."""
    if cfg.match_z != "kl":
        from ..errors import ConfigError
        raise ConfigError("iwae needs the encoder's density (match.z=kl): its bound weighs p(x,z)/q(z|x)")
    return vae_model("iwae", cfg, spec, objective=iwae_objective(cfg.k))
