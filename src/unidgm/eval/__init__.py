"""Evaluation metrics for the unified deep generative models (Hu et al. 2018) and their baselines.

Sample quality uses a domain classifier trained on the real data (``classifier-FID`` and the classifier
inception score are *not* the ImageNet-Inception numbers); explicit models plug their ``log_weights(x, k)``
into the generic likelihood estimators; any model with a prior density and a decoder or generator has an
AIS log-likelihood (``ais``, Wu et al. 2017) that needs no encoder; toy mixtures use the unrolled-GAN/VEEGAN
mode-coverage protocol.
"""

from .ais import ais, ais_report, bdmc, beta_schedule
from .accuracy import classification_accuracy, domain_adaptation_report
from .classifier import (DomainClassifier, FeatureExtractor, MLPClassifier, build_classifier, get_classifier,
                         train_classifier)
from ..core.likelihood import elbo_estimate, importance_sampled_log_likelihood
from .modes import class_coverage, mode_metrics
from .scores import (classifier_fid, classifier_inception_score, conditional_accuracy, feature_statistics,
                     frechet_distance, inception_fid, inception_score)
from .table import format_mean_std, summarise, write_table

METRICS: dict[str, str] = {
    "elbo": "Monte-Carlo evidence lower bound, mean of log p(x,z) - log q(z|x) (nats, higher is better)",
    "log_likelihood": "importance-sampled test log-likelihood, k=5000 samples from q(z|x) (nats, higher is better)",
    "elbo_T": "the critic's ELBO estimate log p(x|z) + T(x,z) (AVB, match.z=adversarial): an estimate, not a bound",
    "ais": "annealed importance sampling log p(x) from p(z) with HMC (Wu et al. 2017), any decoder or generator; "
           "Gaussian observation with sigma chosen on training images for GANs (not in auto except beside elbo_T)",
    "inception_score": "inception score computed with the domain classifier, exp E KL(p(y|x)||p(y)) (higher is better)",
    "fid": "classifier-FID: Frechet distance of domain-classifier features, not Inception-FID (lower is better)",
    "cond_accuracy": "conditional-generation accuracy: domain classifier agrees with the requested label (higher is better)",
    "ssl_accuracy": "semi-supervised VAE: test accuracy of its classifier q(y|x) (higher is better)",
    "modes": "mode coverage on 2-D mixtures: modes captured, high-quality fraction, KL to uniform (VEEGAN protocol)",
    "da_accuracy": "domain adaptation: target-domain test accuracy and gain over the source-only baseline",
}

__all__ = [
    "METRICS", "DomainClassifier", "MLPClassifier", "FeatureExtractor", "build_classifier", "get_classifier",
    "train_classifier", "inception_score", "classifier_inception_score", "frechet_distance",
    "feature_statistics", "classifier_fid", "inception_fid", "conditional_accuracy",
    "importance_sampled_log_likelihood", "elbo_estimate", "ais", "ais_report", "bdmc", "beta_schedule", "mode_metrics",
    "class_coverage", "classification_accuracy",
    "domain_adaptation_report", "summarise", "format_mean_std", "write_table",
]
