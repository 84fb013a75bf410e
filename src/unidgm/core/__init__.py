"""The formulation: parts (Table 1), objectives (one per equation), phases and the unified model."""

from .model import ADAM_BETAS, Batch, DataSpec, Match, Phase, UnifiedModel, adam
from .objectives import (EQUATIONS, FIELDS, Equation, Generated, Objective, PhaseObjective, aa_weights_eq17,
                         elbo_eq12, infogan_objective_eq9, iw_weights_eq16, iwae_bound, log_q, log_q_reversed,
                         loss_from, objective, phi_objective_eq3, phi_step, rws_wake_q_objective,
                         sleep_objective_eq14, theta_objective_eq3, wake_objective_eq14)
from .parts import (CategoricalEncoder, CategoricalPrior, CodeDiscriminator, CodeRecogniser, Discriminator,
                    ExplicitGenerator, FeatureExtractor, GaussianEncoder, GaussianPrior, ImplicitEncoder,
                    ImplicitGenerator, ImplicitPrior, Part, PerfectDiscriminator, ProductPrior, tile, with_each)
