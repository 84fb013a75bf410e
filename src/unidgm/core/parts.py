"""The parts of the unified graphical model (Sec. 2, Table 1), each an ``nn.Module`` with its symbol.

Convention: ``y=1`` real data, ``y=0`` generated. Which parts are generative and which are
inference is said by the model, not the part (GANs: the generator is the inference model).
Conditioning on labels ``c`` (CGAN, CVAE, SVAE) is an optional one-hot input of every part.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .objectives import aa_weights_eq17

LOG_2PI = math.log(2 * math.pi)


def tile(x: Tensor | None, k: int) -> Tensor | None:
    """``x`` [B, ...] repeated k times, sample-major [k·B, ...] (row j·B + i is x_i): k draws per example."""
    return None if x is None else x.unsqueeze(0).expand(k, *x.shape).reshape(-1, *x.shape[1:])


def with_each(x: Tensor, cs: Tensor) -> tuple[Tensor, Tensor]:
    """Every example with every one of the k conditions ``cs``, label-major: row j·n + i is (x_i, c_j)."""
    return tile(x, cs.shape[0]), cs.repeat_interleave(x.shape[0], 0)


class Part(nn.Module):
    """A named factor of the unified model; ``symbol`` and ``equation`` feed `explain` and Table 1."""

    symbol = "?"
    equation = ""
    description = ""

    def describe(self) -> str:
        return self.description


# --- priors p(z|y) -------------------------------------------------------------------------------

class GaussianPrior(Part):
    """p(z|y=0) = N(0, I): the code prior of GANs and VAEs."""

    symbol, description = "p(z|y)", "standard Gaussian prior"

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)  # follows .to(device)

    def sample(self, n: int) -> Tensor:
        return torch.randn(n, self.dim, device=self._anchor.device)

    def log_prob(self, z: Tensor) -> Tensor:
        return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)


class CategoricalPrior(Part):
    """p(c) uniform over k classes, sampled as one-hot codes (InfoGAN's categorical code, labels)."""

    symbol, description = "p(c)", "uniform categorical code"

    def __init__(self, k: int):
        super().__init__()
        self.k = k
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)

    def sample_index(self, n: int) -> Tensor:
        return torch.randint(self.k, (n,), device=self._anchor.device)

    def sample(self, n: int) -> Tensor:
        return F.one_hot(self.sample_index(n), self.k).float()

    def log_prob(self, c_onehot: Tensor) -> Tensor:
        return torch.full(c_onehot.shape[:1], -math.log(self.k), device=c_onehot.device)


class ProductPrior(Part):
    """p(z) = Π_j p(z_j): InfoGAN's noise, categorical and continuous codes side by side."""

    symbol, description = "p(z|y)", "product prior (noise × codes)"

    def __init__(self, **factors: Part):
        super().__init__()
        self.factors = nn.ModuleDict(factors)
        self.dims = {k: (f.k if isinstance(f, CategoricalPrior) else f.dim) for k, f in factors.items()}
        self.dim = sum(self.dims.values())

    def sample(self, n: int) -> Tensor:
        return torch.cat([f.sample(n) for f in self.factors.values()], dim=-1)

    def split(self, z: Tensor) -> dict[str, Tensor]:
        return dict(zip(self.dims, torch.split(z, list(self.dims.values()), dim=-1)))


# --- generators: implicit p_θ(x|y) (Eq. 4) and explicit p_θ(x|z,y) (Eq. 13) ------------------------

class ImplicitGenerator(Part):
    """p_θ(x|y): y=0 → x = G_θ(z), z ~ p(z|y); y=1 → p_data(x), fixed (Eq. 4). No density."""

    symbol, equation, description = "p_θ(x|y)", "Eq. 4", "implicit generator G_θ(z)"

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        return self.net(z, c)


class ExplicitGenerator(Part):
    """p_θ(x|z,y): y=0 → the decoder likelihood p̃_θ(x|z); y=1 → p_data(x) (Eq. 13).

    ``likelihood``: 'bernoulli' (the net outputs logits; for binarised images) or 'gaussian'
    (the net outputs means; a learned scalar log-variance per dimension).
    """

    symbol, equation, description = "p_θ(x|z,y)", "Eq. 13", "explicit decoder"

    def __init__(self, net: nn.Module, likelihood: str = "bernoulli", x_shape: tuple[int, ...] = ()):
        super().__init__()
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"unknown likelihood {likelihood!r}: use 'bernoulli' or 'gaussian'")
        self.net, self.likelihood = net, likelihood
        self.description = f"explicit decoder, {likelihood} likelihood"
        if likelihood == "gaussian":
            self.log_var = nn.Parameter(torch.full(x_shape, -2.0))

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        """Bernoulli logits or Gaussian means."""
        return self.net(z, c)

    def log_prob(self, x: Tensor, z: Tensor, c: Tensor | None = None) -> Tensor:
        """log p̃_θ(x|z), summed over the dimensions of x."""
        out = self(z, c)
        if self.likelihood == "bernoulli":
            # negate after the sum: one [B] op instead of one over every pixel (hot path)
            return -F.binary_cross_entropy_with_logits(out, x, reduction="none").flatten(1).sum(1)
        lp = -0.5 * ((x - out).pow(2) / self.log_var.exp() + self.log_var + LOG_2PI)
        return lp.flatten(1).sum(1)

    def mean(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        out = self(z, c)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    def sample(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        out = self(z, c)
        if self.likelihood == "bernoulli":
            return torch.bernoulli(torch.sigmoid(out))
        return out + torch.randn_like(out) * (0.5 * self.log_var).exp()


# --- discriminators q_φ(y|x), the reverse q^r and the perfect q_* ------------------------------

class Discriminator(Part):
    """q_φ(y|x), with q_φ(y=1|x) = D_φ(x) given by its logit. ``aux_classes`` adds a class head (ACGAN).

    Its reverse q^r_φ(y|x) = q_φ(1−y|x) (Eq. 2), the swap that makes the game adversarial, is
    :func:`~unidgm.core.objectives.log_q_reversed` of the same logit.
    """

    symbol, equation, description = "q_φ(y|x)", "Eq. 1", "discriminator D_φ(x)"

    def __init__(self, net: nn.Module, aux_classes: int = 0):
        super().__init__()
        self.net, self.aux_classes = net, aux_classes

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """Logit of q_φ(y=1|x)."""
        return self.heads(x, c)[0]

    def heads(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        out = self.net(x, c)
        return out[:, 0], (out[:, 1:] if self.aux_classes else None)

    def q_r_y0(self, x: Tensor, c: Tensor | None = None, is_real: Tensor | None = None) -> Tensor:
        """q^r_φ(y=0|x) = D_φ(x), held fixed: the weight of each example in Eq. 17."""
        with torch.no_grad():  # a weight, not a path for gradients: no graph through D
            return aa_weights_eq17(self(x, c))


class PerfectDiscriminator(Part):
    """q_*(y|x): 1 on real data, 0 on generated samples, fixed — the adversary hidden in VAEs.

    Its reverse routes every real example to the decoder branch y=0 and blocks generated samples
    out of learning (Lemma 2). It has no parameters and needs the provenance of each example.
    """

    symbol, equation, description = "q_*(y|x)", "Lemma 2", "perfect discriminator (fixed)"

    def q_r_y0(self, x: Tensor, c: Tensor | None = None, is_real: Tensor | None = None) -> Tensor | None:
        """1 for real examples, 0 for generated ones; None (unit weights) when every example is real."""
        if is_real is None:
            return None
        return is_real.to(x.dtype if x.is_floating_point() else torch.float32)


# --- inference models q_η(z|x,y) -------------------------------------------------------------

class GaussianEncoder(Part):
    """q_η(z|x,y=0) = N(μ_η(x), diag σ²_η(x)), reparameterised (VAE encoder). y=1 has no parameters."""

    symbol, description = "q_η(z|x,y)", "Gaussian encoder"

    def __init__(self, net: nn.Module, dim: int):
        super().__init__()
        self.net, self.dim = net, dim

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._moments(self.net(x, c))

    @staticmethod
    def _moments(out: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_var = out.chunk(2, dim=-1)
        return mean, log_var.clamp(-12.0, 8.0)  # keeps exp() finite early in training

    def rsample(self, x: Tensor, c: Tensor | None = None, k: int | None = None):
        """z = μ + σ ε (reparameterised), with the mean and log-variance; [k, B, d] if k is given."""
        return self._rsample(*self(x, c), k)

    def rsample_each(self, x: Tensor, cs: Tensor):
        """``rsample`` for every example with every one of the k conditions ``cs``, label-major ([k·n] rows, row
        j·n + i is (x_i, c_j)); a net with ``forward_each`` computes its x part once per example."""
        each = getattr(self.net, "forward_each", None)
        if each is not None and getattr(self.net, "cond_dim", 0) and not getattr(self.net, "noise_dim", 0):
            out = each(x, cs)
        else:
            out = self.net(*with_each(x, cs))
        return self._rsample(*self._moments(out), None)

    @staticmethod
    def _rsample(mean: Tensor, log_var: Tensor, k: int | None):
        shape = mean.shape if k is None else (k, *mean.shape)
        z = mean + torch.randn(shape, device=mean.device) * (0.5 * log_var).exp()
        return z, mean, log_var

    @staticmethod
    def log_prob_of(z: Tensor, mean: Tensor, log_var: Tensor) -> Tensor:
        return -0.5 * ((z - mean).pow(2) / log_var.exp() + log_var + LOG_2PI).sum(-1)

    @staticmethod
    def kl_to_standard_normal(mean: Tensor, log_var: Tensor) -> Tensor:
        """Closed-form KL(N(μ,σ²) ‖ N(0,I)), summed over dimensions."""
        return 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).sum(-1)


class CategoricalEncoder(Part):
    """q(c|x): a categorical inference model (SVAE classifier, InfoGAN's categorical recogniser)."""

    symbol, description = "q_η(c|x)", "categorical inference model"

    def __init__(self, net: nn.Module, k: int):
        super().__init__()
        self.net, self.k = net, k

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """Class logits."""
        return self.net(x, c)

    def log_prob(self, c_index: Tensor, x: Tensor) -> Tensor:
        return -F.cross_entropy(self(x), c_index, reduction="none")


class CodeRecogniser(Part):
    """InfoGAN's q_η(z|x,y): recovers the structured codes (categorical and Gaussian) from x (Eq. 9)."""

    symbol, equation, description = "q_η(z|x,y)", "Eq. 9", "InfoGAN code recogniser"

    def __init__(self, net: nn.Module, n_cat: int, n_cont: int):
        super().__init__()
        self.net, self.n_cat, self.n_cont = net, n_cat, n_cont

    def log_prob(self, x: Tensor, c_cat: Tensor | None, c_cont: Tensor) -> Tensor:
        out = self.net(x, None)
        logits, mean = out[:, : self.n_cat], out[:, self.n_cat:]
        lp = -F.cross_entropy(logits, c_cat.argmax(-1), reduction="none") if self.n_cat else 0.0
        # fixed unit variance for the continuous code, as in InfoGAN's common implementation
        return lp - 0.5 * ((c_cont - mean).pow(2) + LOG_2PI).sum(-1)


class FeatureExtractor(ImplicitGenerator):
    """ADA's p_θ(x|y): x = F_θ(z) are features of a source (y=1) or target (y=0) example z (Table 1)."""

    symbol, equation, description = "p_θ(x|y)", "Eq. 1", "feature distribution x = F_θ(z)"

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        return self.net(z, None)


class CodeDiscriminator(Discriminator):
    """q_ψ(y|z) in code space (AAE), or q_ψ(y|x,z) over joint pairs when ``joint`` (AVB's T(x,z)).

    y=1 for prior codes, y=0 for inferred codes; the net sees z, and x flattened when joint.
    """

    symbol, equation, description = "q_ψ(y|z)", "Eq. 3 in code space", "code-space discriminator"

    def __init__(self, net: nn.Module, joint: bool = False):
        super().__init__(net)
        self.joint = joint
        if joint:
            self.symbol, self.description = "q_ψ(y|x,z)", "joint (x, z) density-ratio discriminator T(x,z)"

    def forward(self, z: Tensor, x: Tensor | None = None) -> Tensor:
        return self.net(z, x.flatten(1) if self.joint else None)[:, 0]


class ImplicitEncoder(Part):
    """An implicit q_η(z|x): z = f_η(x, ε) with ε fed into the net — samples but no density (AVB)."""

    symbol, description = "q_η(z|x,y)", "implicit encoder z = f_η(x, ε)"

    def __init__(self, net: nn.Module, dim: int):
        super().__init__()
        self.net, self.dim = net, dim

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self.net(x, c)

    def rsample(self, x: Tensor, c: Tensor | None = None, k: int | None = None):
        """A sample z (no mean or log-variance: the density is not available)."""
        if k is not None:
            return self.net(tile(x, k), tile(c, k)).reshape(k, x.shape[0], -1), None, None
        return self.net(x, c), None, None


class ImplicitPrior(Part):
    """A prior p(z) that can only be sampled: a ring mixture or a swiss roll (AAE's implicit priors)."""

    symbol = "p(z|y)"

    def __init__(self, dim: int, kind: str = "mixture", modes: int = 10):
        super().__init__()
        if kind == "swissroll" and dim != 2:
            raise ValueError(f"the swiss-roll prior is 2-D; set z_dim=2 (got {dim})")
        self.dim, self.kind, self.modes = dim, kind, modes
        self.description = f"implicit {kind} prior (samples only)"
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)

    def sample(self, n: int) -> Tensor:
        dev = self._anchor.device
        if self.kind == "swissroll":
            t = torch.sqrt(torch.rand(n, device=dev)) * 3 * math.pi + math.pi / 2
            return torch.stack([t * torch.cos(t), t * torch.sin(t)], 1) / 4 + 0.05 * torch.randn(n, 2, device=dev)
        k = torch.randint(self.modes, (n,), device=dev).float() * (2 * math.pi / self.modes)
        z = 0.5 * torch.randn(n, self.dim, device=dev)
        z[:, 0] += 2.5 * torch.cos(k)
        z[:, 1 % self.dim] += 2.5 * torch.sin(k)
        return z
