"""The unified model: named parts, declared phases and matched pairs (Table 1 as data).

A model *declares* its phases — which parts each update moves, with which objective and how
often — and never runs them; `unidgm.train` runs any model's phases. `explain()` and the Table-1
row are generated from these declarations, not from hand-written strings.
"""

from __future__ import annotations

import contextlib

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError, DataError
from .likelihood import importance_sampled_log_likelihood
from .objectives import EQUATIONS, Objective, PhaseObjective
from .parts import ExplicitGenerator, GaussianEncoder, GaussianPrior, ImplicitGenerator, Part, tile

Batch = dict[str, Tensor]
ADAM_BETAS = (0.9, 0.999)  # Adam's own defaults: likelihood-trained phases
ADVERSARY_BETAS = (0.5, 0.999)  # Radford et al.: both players of an adversarial game


def adam(lr: float, adversarial: bool = False) -> dict:
    """A phase's optimiser settings: Adam at ``lr``, with β1 = 0.5 in adversarial games (Radford et al. 2016)."""
    return {"lr": lr, "betas": ADVERSARY_BETAS if adversarial else ADAM_BETAS}

@dataclass
class Phase:
    """One update: maximise ``objective(model, batch)`` in the parameters of ``parts`` every ``every`` steps.

    The objective declares what the phase computes (:class:`PhaseObjective`): its equations — the phase's
    role, for ``explain`` and Table 1 — the examples its values range over, and the fields techniques may read.
    """

    name: str
    parts: tuple[str, ...]
    objective: PhaseObjective
    every: int = 1
    optim: dict = field(default_factory=lambda: adam(1e-3))
    repeat: int = 1  # updates per step when it runs (an adversary that must keep up with its opponent)
    note: str = ""  # what a technique changed in it, shown by explain()

    def __post_init__(self):
        if not isinstance(self.objective, PhaseObjective):
            raise TypeError(f"phase {self.name!r}: its objective must declare its equations; wrap "
                            f"{getattr(self.objective, '__name__', self.objective)!r} with "
                            "unidgm.core.objective('eq12') (or PhaseObjective(fn, 'eq12'))")

    @property
    def roles(self) -> tuple[str, ...]:
        """The equations this phase computes (keys of :data:`EQUATIONS`)."""
        return self.objective.equations

    @property
    def over(self) -> str:
        """The examples its per-example values range over: 'real', 'fake' or 'both'."""
        return self.objective.over

    def describe(self) -> str:
        return " + ".join(EQUATIONS[r].formula for r in self.roles) + (f"; {self.note}" if self.note else "")


@dataclass(frozen=True)
class Match:
    """A pair of distributions the model brings together, and the tool that does it (Sec. A).

    ``tool`` is 'kl' (explicit densities), 'adversarial' (a discriminator estimates the density
    ratio, Eq. 3 in the pair's space) or 'reconstruction' (a likelihood term).
    """

    space: str
    left: str
    right: str
    tool: str


@dataclass(frozen=True)
class DataSpec:
    """What a builder needs to know of the data: the shape of one example and the label count."""

    x_shape: tuple[int, ...]
    num_classes: int | None = None


GAN_ADVERSARY = {"x": "data / generations", "y": "real/fake indicator", "z": "code vector"}


class UnifiedModel(nn.Module):
    """Parts + phases + matches. Sampling, ELBO, log-likelihood and explain are generic over the parts."""

    def __init__(self, name: str, family: str, parts: dict[str, Part], phases: list[Phase], *,
                 x_shape: tuple[int, ...], num_classes: int | None = None, conditional: bool = False,
                 streams: tuple[str, ...] = ("x",), meaning: dict[str, str] | None = None,
                 generative: tuple[str, ...] = (), inference: tuple[str, ...] = (),
                 matches: tuple[Match, ...] = (), config=None, methods: dict[str, Callable] | None = None,
                 binary_data: bool | None = None):
        super().__init__()
        self.name, self.family = name, family
        self.parts = nn.ModuleDict(parts)
        self.phases = list(phases)
        self.x_shape, self.num_classes, self.conditional = tuple(x_shape), num_classes, conditional
        self.streams = streams
        self.meaning = meaning or dict(GAN_ADVERSARY)
        self.generative, self.inference = generative, inference
        self.matches, self.config = tuple(matches), config
        self.methods = dict(methods or {})
        self.techniques: tuple[str, ...] = ()
        # β of Eq. 12's KL term, set per step by the loop during a KL warm-up (``train.kl_warmup``); 1 otherwise.
        # Only objectives that declare ``anneals_kl`` read it; evaluation never does.
        self.kl_weight = 1.0
        # examples behind each training stream ({"x": N_l, "x_u": N_u}), set where the data is split; read by
        # objectives that weigh streams by their size (M2's Kingma weighting); empty outside training
        self.stream_sizes: dict[str, int] = {}
        # train on binarised images? default: when the decoder's likelihood is Bernoulli
        self.binary_data = binary_data if binary_data is not None else (
            "decoder" in self.parts and getattr(self.parts["decoder"], "likelihood", "") == "bernoulli")
        for ph in self.phases:
            missing = [p for p in ph.parts if p not in self.parts]
            if missing:
                raise ValueError(f"phase {ph.name!r} moves unknown part(s) {missing}")

    # --- parts and phases -------------------------------------------------------------------
    def __getitem__(self, part: str) -> Part:
        return self.parts[part]

    def has(self, part: str) -> bool:
        return part in self.parts

    def phase(self, name: str) -> Phase:
        for ph in self.phases:
            if ph.name == name:
                return ph
        raise KeyError(name)

    def phase_parameters(self, phase: Phase) -> list[nn.Parameter]:
        return [p for name in phase.parts for p in self.parts[name].parameters() if p.requires_grad]

    def with_phases(self, phases: list[Phase]) -> "UnifiedModel":
        self.phases = phases
        return self

    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        return torch.device("cpu")

    # --- what the model trains on and what it can be asked: declared here, read by api, eval and experiments ---
    @property
    def needs_labels(self) -> bool:
        """It trains on labels (stream ``c``)."""
        return "c" in self.streams

    @property
    def semi_supervised(self) -> bool:
        """It trains on labelled examples plus an unlabelled stream ``x_u`` (M2)."""
        return "x_u" in self.streams

    @property
    def paired(self) -> bool:
        """It trains on two domains, the second as stream ``x_t`` (ADA, CycleGAN): one data set is not enough."""
        return "x_t" in self.streams

    @property
    def bound_needs_labels(self) -> bool:
        """Its ELBO and likelihood condition on the labels (CVAE); M2's sum them out under q(c|x)."""
        return self.conditional and "elbo" not in self.methods

    @property
    def capabilities(self) -> frozenset[str]:
        """What evaluation may ask of this model, read off its parts and methods (never by trying):
        elbo, log_likelihood (importance weights), elbo_T (a critic's estimate), sample, ais (sampling from
        a prior with a density), classify, translate."""
        caps = set()
        if "elbo" in self.methods or self._explicit():
            caps.add("elbo")
        if "log_weights" in self.methods or self._explicit():
            caps.add("log_likelihood")
        if self.has("code_discriminator") and getattr(self.parts["code_discriminator"], "joint", False):
            caps.add("elbo_T")
        if self.has("prior") and (self.has("generator") or self.has("decoder")):
            caps.add("sample")
            if hasattr(self.parts["prior"], "log_prob") and not self.paired:
                caps.add("ais")
        if "classify" in self.methods or (self.has("classifier") and not self.paired):
            caps.add("classify")
        if "translate" in self.methods:
            caps.add("translate")
        return frozenset(caps)

    # --- labels ----------------------------------------------------------------------------
    def onehot(self, labels: Tensor | None, n: int) -> Tensor | None:
        """One-hot condition for conditional parts; random labels when none are given."""
        if not self.conditional:
            return None
        if labels is None:
            labels = torch.randint(self.num_classes, (n,), device=self.device)
        return F.one_hot(labels.to(self.device).long(), self.num_classes).float()

    # --- input checks of the public methods (the library's errors, not raw torch ones) -------
    def _check_n(self, n) -> int:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"{self.name}.sample(n={n!r}): n must be a whole number >= 1")
        return n

    def _check_labels(self, labels, n: int | None = None):
        if labels is None:
            return None
        if not self.conditional:
            raise ConfigError(f"{self.name} is not conditional: it takes no labels (pass labels=None)")
        if not isinstance(labels, Tensor) or labels.dim() != 1 or labels.is_floating_point() or labels.is_complex():
            raise DataError(f"labels must be a 1-D integer tensor of class indices, got "
                            f"{type(labels).__name__}{tuple(labels.shape) if isinstance(labels, Tensor) else ''}; "
                            "e.g. torch.tensor([0, 3, 7])")
        if n is not None and labels.shape[0] != n:
            raise DataError(f"{labels.shape[0]} labels for {n} examples: pass one label per example")
        if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise DataError(f"labels must lie in 0..{self.num_classes - 1}, got {int(labels.min())}..{int(labels.max())}")
        return labels

    def _check_x(self, x, what: str) -> Tensor:
        """x as the model takes it: a float tensor [B, *x_shape], finite, in [0, 1] for a Bernoulli decoder."""
        if not isinstance(x, Tensor):
            raise DataError(f"{self.name}.{what}: x is a {type(x).__name__}, not a torch tensor; "
                            "convert it with torch.as_tensor(x, dtype=torch.float32)")
        if not x.is_floating_point():
            raise DataError(f"{self.name}.{what}: x has dtype {x.dtype}; pass floats (uint8 images: x.float() / 255)")
        own = next((p.dtype for p in self.parameters()), x.dtype)
        if x.dtype != own:
            raise DataError(f"{self.name}.{what}: x has dtype {x.dtype}, the model's parameters {own}; "
                            f"convert it with x.to({own})")
        if x.dim() != len(self.x_shape) + 1 or tuple(x.shape[1:]) != self.x_shape or x.shape[0] == 0:
            raise DataError(f"{self.name}.{what}: x has shape {tuple(x.shape)}; the model takes a batch "
                            f"[B, {', '.join(map(str, self.x_shape))}] with B >= 1")
        if not torch.isfinite(x).all():
            raise DataError(f"{self.name}.{what}: x holds NaN/inf values; clean or drop those examples")
        if self.binary_data and (float(x.min()) < 0 or float(x.max()) > 1):
            raise DataError(f"{self.name}.{what}: x spans [{float(x.min()):.4g}, {float(x.max()):.4g}], but the "
                            "model's Bernoulli decoder takes values in [0, 1]; scale the data into [0, 1]")
        return x

    # --- generic capabilities, overridable per model through ``methods`` ------------------
    def _method(self, name: str, *args, **kw):
        return self.methods[name](self, *args, **kw) if name in self.methods else None

    @torch.no_grad()
    def sample(self, n: int, labels: Tensor | None = None) -> Tensor:
        """n samples x ~ p_θ(x|y=0); conditional models take ``labels`` (random if None).

        Explicit models return the decoder's mean given z ~ p(z) (the usual way to show VAE samples).
        """
        self._check_labels(labels, self._check_n(n))
        out = self._method("sample", n, labels)
        if out is not None:
            return out
        if not self.has("prior"):
            raise NotImplementedError(f"{self.name} has no prior p(z) to sample from")
        with self.evaluating():
            c = self.onehot(labels, n)
            z = self.parts["prior"].sample(n)
            if self.has("generator"):
                return self.parts["generator"](z, c)
            if self.has("decoder"):
                return self.parts["decoder"].mean(z, c)
            raise NotImplementedError(f"{self.name} has no generator to sample from")

    @torch.no_grad()
    def encode(self, x: Tensor, labels: Tensor | None = None, sample: bool = False) -> Tensor:
        """The code of x under q_η(z|x,y=0): its **mean** by default, a reparameterised sample if ``sample``.

        An implicit encoder (AVB, BiGAN) has no mean in closed form: it always returns its sample f_η(x, ε).
        """
        if not self.has("encoder"):
            raise NotImplementedError(f"{self.name} has no inference model q_η(z|x,y)")
        self._check_labels(labels, self._check_x(x, "encode").shape[0])
        c = self.onehot(labels, x.shape[0]) if labels is not None or self.conditional else None
        enc = self.parts["encoder"]
        if isinstance(enc, GaussianEncoder):
            z, mean, _ = enc.rsample(x, c)
            return z if sample else mean
        return enc(x, c)

    @torch.no_grad()
    def classify(self, x: Tensor) -> Tensor:
        """Predicted labels from the model's classifier q(c|x) (semi-supervised VAE, ADA)."""
        if not isinstance(x, Tensor) or not x.is_floating_point():  # type only: ADA classifies another domain
            self._check_x(x, "classify")
        out = self._method("classify", x)
        if out is not None:
            return out
        if not self.has("classifier"):
            raise NotImplementedError(f"{self.name} has no classifier q(c|x)")
        with self.evaluating():
            return self.parts["classifier"](x).argmax(-1)

    @contextlib.contextmanager
    def evaluating(self):
        """Eval mode (BatchNorm running statistics) for the block, then the previous mode back."""
        was = self.training
        self.eval()
        try:
            yield
        finally:
            self.train(was)

    def log_weights(self, x: Tensor, k: int, labels: Tensor | None = None, *, with_samples: bool = False):
        """log p_θ(x, z_i) − log q_η(z_i|x) for z_i ~ q_η(z|x), shape [k, batch] (explicit models).

        ``with_samples``: also return the z_i [k, batch, d] the weights belong to (one draw for both, as
        reweighted wake-sleep needs).
        """
        if "log_weights" in self.methods and with_samples:
            raise NotImplementedError(f"{self.name}'s importance weights come with latents of its own; "
                                      "with_samples is not available")
        out = self._method("log_weights", x, k, labels)
        if out is not None:
            return out
        self._need_explicit()
        c = self.onehot(labels, x.shape[0])
        z, mean, log_var = self.parts["encoder"].rsample(x, c, k=k)
        log_px = self.parts["decoder"].log_prob(tile(x, k), z.reshape(-1, z.shape[-1]), tile(c, k)).reshape(k, -1)
        log_w = log_px + self.parts["prior"].log_prob(z) - GaussianEncoder.log_prob_of(z, mean, log_var)
        return (log_w, z) if with_samples else log_w

    def elbo(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """Per-example ELBO E_q[log p̃_θ(x|z)] − KL(q̃_η(z|x) ‖ p(z)) (one z sample, closed-form KL)."""
        self._check_labels(labels, self._check_x(x, "elbo").shape[0])
        out = self._method("elbo", x, labels)
        if out is not None:
            return out
        self._need_explicit()
        c = self.onehot(labels, x.shape[0])
        z, mean, log_var = self.parts["encoder"].rsample(x, c)
        return self.parts["decoder"].log_prob(x, z, c) - GaussianEncoder.kl_to_standard_normal(mean, log_var)

    def log_likelihood(self, x: Tensor, k: int = 1000, labels: Tensor | None = None, chunk: int = 50,
                       progress: bool = False) -> Tensor:
        """Importance-sampled log p(x) ≈ log 1/k Σ_i p(x,z_i)/q(z_i|x), k samples in bounded-memory chunks."""
        self._check_labels(labels, self._check_x(x, "log_likelihood").shape[0])
        if labels is None:
            return importance_sampled_log_likelihood(self.log_weights, x, k=k, chunk=chunk, progress=progress)
        out = []
        for i in range(0, x.shape[0], 100):  # labels travel with their examples
            lb = labels[i:i + 100]
            out.append(importance_sampled_log_likelihood(lambda xb, n, lb=lb: self.log_weights(xb, n, lb),
                                                         x[i:i + 100], k=k, chunk=chunk, batch_size=100,
                                                         progress=progress))
        return torch.cat(out)

    def _explicit(self) -> bool:
        """Encoder and prior with densities, and a decoder: a closed-form ELBO and importance weights."""
        return (self.has("encoder") and self.has("decoder") and self.has("prior")
                and isinstance(self.parts["prior"], GaussianPrior) and isinstance(self.parts["encoder"], GaussianEncoder))

    def _need_explicit(self):
        if not (self.has("encoder") and self.has("decoder") and isinstance(self.parts["prior"], GaussianPrior)):
            raise NotImplementedError(f"{self.name} is not an explicit model: it has no ELBO or likelihood")
        if not isinstance(self.parts["encoder"], GaussianEncoder):
            raise NotImplementedError(f"{self.name}'s q_η(z|x) is implicit (samples only): no closed-form ELBO "
                                      "or importance weights")

    # --- Table 1 and explain, generated from the declarations ------------------------------
    def kl_minimised(self) -> list[str]:
        return [EQUATIONS[r].kl for ph in self.phases for r in ph.roles if EQUATIONS[r].kl]

    def _column(self, names: tuple[str, ...]) -> str:
        for n in names:
            if self.has(n):
                part = self.parts[n]
                side = "[generative]" if n in self.generative else "[inference]" if n in self.inference else ""
                eq = f", {part.equation}" if part.equation else ""
                return f"{side} {part.symbol}: {part.describe()}{eq}".strip()
        return "—"

    def table1_row(self) -> dict[str, str]:
        """This model's column of the paper's Table 1, read off its parts and phases."""
        kls = list(dict.fromkeys(self.kl_minimised()))
        return {**self.meaning,
                "p_θ(x|y)": self._column(("generator", "decoder", "features")),
                "q_φ(y|x)": self._column(("discriminator",)),
                "q_η(z|x,y)": self._column(("encoder", "recogniser", "classifier")),
                "KL minimised": "; ".join(kls) or "—"}

    def explain(self) -> str:
        lines = [f"{self.name} ({self.family})" + (f" + {', '.join(self.techniques)}" if self.techniques else "")]
        lines.append("parts:")
        for n, p in self.parts.items():
            count = sum(t.numel() for t in p.parameters())
            side = "generative" if n in self.generative else "inference" if n in self.inference else "fixed/prior"
            lines.append(f"  {n:<22} {p.symbol:<12} {side:<11} {count:>9,} params  {p.describe()}")
        lines.append("phases (run in this order each step):")
        for ph in self.phases:
            every = ("" if ph.every == 1 else f" every {ph.every} steps") + ("" if ph.repeat == 1 else f" ×{ph.repeat}")
            lines.append(f"  {ph.name:<10} moves {', '.join(ph.parts)}{every}: {ph.describe()}")
        if self.matches:
            lines.append("matched pairs (space: left ~ right, tool):")
            for m in self.matches:
                lines.append(f"  {m.space:<4} {m.left} ~ {m.right}: {m.tool}")
        lines.append("KL minimised: " + ("; ".join(dict.fromkeys(self.kl_minimised())) or "—"))
        return "\n".join(lines)
