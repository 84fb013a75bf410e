"""InfoGAN (Chen et al. 2016) as Eq. 9: the GAN plus q_η(z|x,y) reconstructing the structured code.

Table 1, GAN/InfoGAN column: q_η is the [generative] code recogniser. φ maximises
E[log q_η(z|x,y) q_φ(y|x)] (only q_φ depends on φ, so it is Eq. 3's φ step); θ and η maximise
E[log q_η(z|x,y) q^r_φ(y|x)]. Swapping its generative and inference arrows gives the VAE.
Techniques: importance weighting (IW-InfoGAN, Eq. 16).
"""

from dataclasses import dataclass

from ..config import checked, non_negative
from ..core import CategoricalPrior, CodeRecogniser, DataSpec, GaussianPrior, Phase, ProductPrior, UnifiedModel, adam
from ..core.games import infogan_phi, infogan_theta
from ..nets import critic_net
from ..registry import register_model
from .gan import GANConfig, gan_model, gan_parts


@dataclass
class InfoGANConfig(GANConfig):
    n_cat: int = checked(10, non_negative, "categories of the discrete code")
    n_cont: int = checked(2, non_negative, "continuous codes")


@register_model("infogan", config=InfoGANConfig, family="GAN")
def build_infogan(cfg: InfoGANConfig, spec: DataSpec) -> UnifiedModel:
    """InfoGAN: GAN + code recogniser q_η(z|x,y) (Eq. 9)."""
    factors = {"noise": GaussianPrior(cfg.z_dim), "c_cont": GaussianPrior(cfg.n_cont)}
    if cfg.n_cat:
        factors["c_cat"] = CategoricalPrior(cfg.n_cat)
    parts = gan_parts(cfg, spec, prior=ProductPrior(**factors))
    parts["recogniser"] = CodeRecogniser(critic_net(cfg.arch, spec.x_shape, cfg.n_cat + cfg.n_cont, 0, cfg.hidden),
                                         cfg.n_cat, cfg.n_cont)
    opt = adam(cfg.lr, adversarial=True)
    phases = [Phase("phi", ("discriminator",), infogan_phi, optim=opt),
              Phase("theta_eta", ("generator", "recogniser"), infogan_theta, every=cfg.d_steps, optim=opt)]
    return gan_model("infogan", cfg, spec, parts, phases=phases)
