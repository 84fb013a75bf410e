"""Numerical checks of the paper's theory (Hu et al. 2018), float64, through the library's objectives.

* :mod:`.lemma1` — Lemma 1 (Eq. 6) and Eq. 8: the GAN generator gradient equals the gradient of
  E_p(y) KL(p_θ(x|y) ‖ q^r(x|y)) − JSD, on a 1-D problem with exact densities.
* :mod:`.lemma2` — Lemma 2 (Eq. 12): the VAE ELBO as Eq. 12 with the perfect discriminator q_*.
* :mod:`.kl_asymmetry` — mode missing (KL(q‖p), GAN) vs mode covering (KL(p‖q), VAE).

The ``run_*`` functions print readable output and return the data, for the CLI
(``unidgm theory lemma1|lemma2|modes``).
"""

from unidgm.theory.kl_asymmetry import fit_kl_directions, plot_kl_directions, run_kl_directions, run_kl_plot
from unidgm.theory.lemma1 import Lemma1Result, lemma1_check, run_lemma1
from unidgm.theory.lemma2 import lemma2_check, run_lemma2

__all__ = ["Lemma1Result", "lemma1_check", "run_lemma1", "lemma2_check", "run_lemma2", "fit_kl_directions",
           "plot_kl_directions", "run_kl_directions", "run_kl_plot"]
