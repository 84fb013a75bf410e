"""The widened model × technique matrix: each new cell reached through the declared Objective fields alone.

IW (Eq. 16) on every Eq. 3 θ step over generated samples — BiGAN's generated pairs, VAE/GAN's decoder as a
generator, CycleGAN's translators, ADA's target features, the AAE's encoder as the generator of codes — and
AA (Eq. 17) on every Eq. 12 phase weighted by q_* — IWAE, AAE, AVB. With uniform weights (every D logit
equal) IW is the base model bit for bit; with q_* put back AA is the base objective over the real examples.
"""

import pytest
import torch
from torch import nn

from unidgm.api import build_model
from unidgm.core import DataSpec, PerfectDiscriminator, loss_from
from unidgm.errors import ConfigError

IMAGES = DataSpec((1, 8, 8), 10)
POINTS = DataSpec((2,), 2)
SMALL = {"hidden": (16,)}

# model, its data, its small config, the phase IW rewrites, a batch
IW_CELLS = {
    "bigan": (IMAGES, {**SMALL, "z_dim": 4}, "theta_eta", lambda: {"x": torch.rand(16, 1, 8, 8)}),
    "vaegan": (IMAGES, {**SMALL, "z_dim": 4}, "theta_eta", lambda: {"x": torch.rand(16, 1, 8, 8)}),
    "cyclegan": (IMAGES, SMALL, "theta", lambda: {"x": torch.rand(16, 1, 8, 8), "x_t": torch.rand(16, 1, 8, 8)}),
    "ada": (POINTS, SMALL, "theta", lambda: {"x": torch.randn(16, 2), "c": torch.arange(16) % 2,
                                             "x_t": torch.randn(16, 2)}),
    "aae": (IMAGES, {**SMALL, "z_dim": 4}, "theta_eta", lambda: {"x": torch.bernoulli(torch.rand(16, 1, 8, 8))}),
}


def _constant_logits(model):
    """Every discriminator (data or code space) outputs one constant logit: Eq. 16's weights are uniform."""
    for name, part in model.parts.items():
        linears = [m for m in part.modules() if isinstance(m, nn.Linear)]
        if "discriminator" in name and linears:  # (q_* has no parameters)
            nn.init.zeros_(linears[-1].weight)
            nn.init.constant_(linears[-1].bias, 0.7)


def _loss_and_grads(model, phase, batch, seed=3):
    torch.manual_seed(seed)
    ph = model.phase(phase)
    obj = ph.objective(model, batch)
    loss = loss_from(obj)
    return obj, loss, torch.autograd.grad(loss, model.phase_parameters(ph), allow_unused=True)


def _base_and_iw(name, uniform: bool):
    """The base model and its IW version with the same parameters (D's logits made constant if ``uniform``),
    each phase's (objective, loss, gradients) on one batch and noise."""
    spec, cfg, phase, make_batch = IW_CELLS[name]
    torch.manual_seed(0)
    base = build_model(name, cfg, spec=spec)
    iw = build_model(name, cfg, spec=spec, techniques={"iw": None})
    iw.load_state_dict(base.state_dict())
    if uniform:
        for m in (base, iw):
            _constant_logits(m)
    batch = make_batch()
    return _loss_and_grads(base, phase, batch), _loss_and_grads(iw, phase, batch)


@pytest.mark.parametrize("name", sorted(IW_CELLS))
def test_iw_with_uniform_weights_is_the_base_model_bit_for_bit(name):
    (_, lb, gb), (obj, li, gi) = _base_and_iw(name, uniform=True)
    assert obj.terms["iw_ess_fraction"].item() == pytest.approx(1.0)
    assert torch.equal(lb, li)
    for a, b in zip(gb, gi):
        assert (a is None and b is None) or torch.equal(a, b)


@pytest.mark.parametrize("name", sorted(IW_CELLS))
def test_iw_weights_move_the_loss_when_d_disagrees(name):
    (_, lb, _), (obj, li, _) = _base_and_iw(name, uniform=False)
    assert obj.terms["iw_ess_fraction"].item() < 1.0 and not torch.equal(lb, li)


def test_iw_on_cyclegan_normalises_each_translator_apart():
    spec, cfg, phase, make_batch = IW_CELLS["cyclegan"]
    torch.manual_seed(0)
    model = build_model("cyclegan", cfg, spec=spec, techniques={"iw": None})
    torch.manual_seed(1)
    obj = model.phase(phase).objective(model, make_batch())
    from unidgm.core import iw_weights_eq16
    w = iw_weights_eq16(obj.logit_fake, groups=obj.groups)
    assert torch.allclose(w[:16].sum(), torch.tensor(16.0)) and torch.allclose(w[16:].sum(), torch.tensor(16.0))


@pytest.mark.parametrize("name,spec,cfg", [("iwae", IMAGES, {**SMALL, "z_dim": 4, "k": 3}),
                                           ("aae", IMAGES, {**SMALL, "z_dim": 4}),
                                           ("avb", IMAGES, {**SMALL, "z_dim": 4})])
def test_aa_with_the_perfect_discriminator_is_the_base_objective_on_real_examples(name, spec, cfg):
    torch.manual_seed(0)
    aa = build_model(name, cfg, spec=spec, techniques={"aa": None})
    aa.parts["discriminator"] = PerfectDiscriminator()  # q_* back: Eq. 17 must reduce to the base phase
    x = torch.bernoulli(torch.rand(8, 1, 8, 8))
    obj = aa.phase("theta_eta").objective(aa, {"x": x})
    assert torch.equal(obj.is_real, torch.cat([torch.ones(8), torch.zeros(8)]))
    assert torch.equal(obj.weight, obj.is_real)  # generated examples weigh 0, real ones 1
    assert torch.allclose(loss_from(obj), -obj.value[:8].mean(), atol=1e-6)


@pytest.mark.parametrize("name,cfg", [("iwae", {**SMALL, "z_dim": 4, "k": 3}), ("aae", {**SMALL, "z_dim": 4}),
                                      ("avb", {**SMALL, "z_dim": 4})])
def test_aa_weights_are_d_on_real_and_generated_examples(name, cfg):
    torch.manual_seed(0)
    aa = build_model(name, cfg, spec=IMAGES, techniques={"aa": None})
    x = torch.bernoulli(torch.rand(8, 1, 8, 8))
    obj = aa.phase("theta_eta").objective(aa, {"x": x})
    assert torch.allclose(obj.weight[:8], torch.sigmoid(aa["discriminator"](x)).detach(), atol=1e-6)
    assert (obj.weight[8:] > 0).all() and "aa_weight_fake" in obj.terms


def test_a_missing_field_is_refused_at_build_naming_model_phase_and_field():
    with pytest.raises(ConfigError, match=r"vaegan.*theta_eta.*logit_fake"):
        build_model("vaegan", {**SMALL, "adv_on_recon": True}, spec=IMAGES, techniques={"iw": None})


@pytest.mark.parametrize("name,tech,why", [
    ("vaegan", "aa", "already a learned discriminator"),
    ("wake_sleep", "iw", "Eq. 3's θ step"),
    ("vae", "iw", "Eq. 3's θ step"),
    ("gan", "aa", "Eq. 12"),
])
def test_refusals_say_why_and_where_the_technique_applies(name, tech, why):
    with pytest.raises(ConfigError, match=why) as e:
        build_model(name, SMALL, spec=IMAGES, techniques={tech: None})
    assert "It is defined for" in str(e.value)


def test_iw_terms_all_is_refused_where_values_mix_real_examples():
    with pytest.raises(ConfigError, match="iw.terms=adversarial"):
        build_model("bigan", SMALL, spec=IMAGES, techniques={"iw": {"terms": "all"}})


def _aae_with(techniques):
    torch.manual_seed(0)
    return build_model("aae", {**SMALL, "z_dim": 4}, spec=IMAGES, techniques=techniques)


def test_iw_and_aa_together_on_the_aae_compose_in_either_order():
    """IW (Eq. 16, the code adversary's θ,η term) and AA (Eq. 17, real and generated examples) on one phase:
    AA's generated examples pass through IW's wrapper, and the weights multiply whichever is applied first."""
    x = torch.bernoulli(torch.rand(8, 1, 8, 8))
    out = []
    for techs in ({"iw": None, "aa": None}, {"aa": None, "iw": None}):
        model = _aae_with(techs)
        obj, loss, grads = _loss_and_grads(model, "theta_eta", {"x": x})
        assert obj.value.shape == (16,) and {"iw_ess_fraction", "aa_weight_fake"} <= set(obj.terms)
        out.append((loss, grads))
    assert torch.equal(out[0][0], out[1][0])
    assert all((a is None and b is None) or torch.equal(a, b) for a, b in zip(out[0][1], out[1][1]))


def test_iw_and_aa_together_reduce_to_the_aae_with_uniform_weights_and_q_star():
    """Uniform Eq. 16 weights and q_* put back: IW changes nothing, Eq. 17's generated examples weigh 0, and
    the loss is the AAE's θ,η objective over the real examples alone."""
    both = _aae_with({"iw": None, "aa": None})
    _constant_logits(both)
    both.parts["discriminator"] = PerfectDiscriminator()
    obj = both.phase("theta_eta").objective(both, {"x": torch.bernoulli(torch.rand(8, 1, 8, 8))})
    assert obj.terms["iw_ess_fraction"].item() == pytest.approx(1.0)
    assert torch.equal(obj.weight, obj.is_real)
    assert torch.allclose(loss_from(obj), -obj.value[:8].mean(), atol=1e-6)
