"""The formulation: parts (Table 1), objectives (one per equation), phases and the unified model."""

from .model import ROLES, Batch, DataSpec, Match, Phase, UnifiedModel
from .objectives import (Objective, aa_weights_eq17, elbo_eq12, infogan_objective_eq9, iw_weights_eq16,
                         iw_weights_eq16_by_label, iwae_bound, log_q, log_q_reversed, loss_from, phi_objective_eq3,
                         sleep_objective_eq14, theta_objective_eq3, wake_objective_eq14)
from .parts import (CategoricalEncoder, CategoricalPrior, CodeDiscriminator, CodeRecogniser, Discriminator,
                    ExplicitGenerator, FeatureExtractor, GaussianEncoder, GaussianPrior, ImplicitEncoder,
                    ImplicitGenerator, ImplicitPrior, Part, PerfectDiscriminator, ProductPrior,
                    ReversedDiscriminator)
