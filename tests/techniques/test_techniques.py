"""IW (Eq. 16) and AA (Eq. 17) as switches: exact reductions to the base models, weights, refusals."""

import math

import pytest
import torch

from unidgm.api import build_model
from unidgm.core import DataSpec, PerfectDiscriminator, loss_from
from unidgm.errors import ConfigError

SPEC = DataSpec((1, 8, 8), 10)
SMALL_GAN = {"z_dim": 4, "hidden": (16,), "arch": "mlp"}
SMALL_VAE = {"z_dim": 4, "hidden": (16,)}


def _phase_loss_and_grads(model, name, batch, seed=3):
    torch.manual_seed(seed)
    ph = model.phase(name)
    obj = ph.objective(model, batch)
    loss = loss_from(obj)
    params = model.phase_parameters(ph)
    return obj, loss, torch.autograd.grad(loss, params)


def test_iw_with_equal_logits_is_exactly_the_base_gradient(monkeypatch):
    torch.manual_seed(0)
    base = build_model("gan", SMALL_GAN, spec=SPEC)
    iw = build_model("gan", SMALL_GAN, spec=SPEC, techniques={"iw": None})
    iw.load_state_dict(base.state_dict())
    # a discriminator that outputs one constant logit: every generated sample weighs the same
    for m in (base, iw):
        last = m["discriminator"].net.layers[-2]  # the last Linear (an Identity output follows)
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.constant_(last.bias, 0.7)
    batch = {"x": torch.rand(16, 1, 8, 8)}
    _, lb, gb = _phase_loss_and_grads(base, "theta", batch)
    obj, li, gi = _phase_loss_and_grads(iw, "theta", batch)
    assert torch.equal(obj.weight, torch.ones(16))
    assert torch.allclose(lb, li)
    for a, b in zip(gb, gi):
        assert torch.allclose(a, b)


def test_iw_weights_follow_the_discriminator_logits():
    torch.manual_seed(0)
    iw = build_model("gan", SMALL_GAN, spec=SPEC, techniques={"iw": {"k": 4}})
    obj, _, _ = _phase_loss_and_grads(iw, "theta", {"x": torch.rand(8, 1, 8, 8)})
    logits = obj.logit_fake.detach().reshape(2, 4)
    assert torch.allclose(obj.weight, (torch.softmax(logits, 1) * 4).reshape(8), atol=1e-6)
    assert not obj.weight.requires_grad
    s = torch.softmax(logits, 1)  # ESS per group = 1 / Σ s², as a fraction of k=4, averaged
    assert obj.terms["iw_ess_fraction"].item() == pytest.approx(float((1 / s.pow(2).sum(1) / 4).mean()), rel=1e-5)


def test_iw_cgan_normalises_the_weights_among_samples_of_the_same_label():
    """IW-CGAN: Eq. 16's k samples share one conditional, so the softmax runs within each label group."""
    from unidgm.core import iw_weights_eq16

    def iw_weights_eq16_by_label(logits, labels):
        return iw_weights_eq16(logits, groups=labels)
    logits = torch.tensor([0.0, math.log(3.0), 5.0, 1.0, 1.0, -2.0])
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    w = iw_weights_eq16_by_label(logits, labels)
    by_hand = [2 * 1 / 4, 2 * 3 / 4, 1.0, *(3 * torch.softmax(torch.tensor([1.0, 1.0, -2.0]), 0)).tolist()]
    assert torch.allclose(w, torch.tensor(by_hand), atol=1e-6)
    assert torch.equal(iw_weights_eq16_by_label(torch.full((6,), 7.0), labels), torch.ones(6))  # uniform: the CGAN
    assert torch.isfinite(iw_weights_eq16_by_label(torch.tensor([1000.0, -1000.0, 3.0]), torch.tensor([0, 0, 1]))).all()
    torch.manual_seed(0)
    cgan = build_model("cgan", SMALL_GAN, spec=SPEC, techniques={"iw": {}})
    obj, _, _ = _phase_loss_and_grads(cgan, "theta", {"x": torch.rand(8, 1, 8, 8), "c": torch.arange(8) % 10})
    assert torch.allclose(obj.weight, iw_weights_eq16_by_label(obj.logit_fake, obj.groups))
    with pytest.raises(ConfigError, match="conditional"):
        build_model("gan", SMALL_GAN, spec=SPEC, techniques={"iw": {"group": "label"}})
    with pytest.raises(ConfigError, match="iw.group=batch"):
        build_model("cgan", SMALL_GAN, spec=SPEC, techniques={"iw": {"k": 4}})
    batch = build_model("cgan", SMALL_GAN, spec=SPEC, techniques={"iw": {"k": 4, "group": "batch"}})
    assert "k=4" in batch.phase("theta").objective.__doc__


def test_iw_effective_sample_size_spans_one_sample_to_the_whole_group():
    from unidgm.techniques.importance_weighting import iw_ess_fraction
    assert iw_ess_fraction(torch.ones(8), 4).item() == pytest.approx(1.0)
    one_takes_all = torch.tensor([4.0, 0, 0, 0, 0, 0, 4.0, 0])  # per group of 4: all weight on one sample
    assert iw_ess_fraction(one_takes_all, 4).item() == pytest.approx(0.25)


def test_aa_with_the_perfect_discriminator_is_exactly_the_vae():
    torch.manual_seed(0)
    vae = build_model("vae", SMALL_VAE, spec=SPEC)
    aa = build_model("vae", SMALL_VAE, spec=SPEC, techniques={"aa": None})
    aa.load_state_dict({k: v for k, v in vae.state_dict().items()}, strict=False)
    aa.parts["discriminator"] = PerfectDiscriminator()  # put q_* back: Eq. 17 must reduce to Eq. 12
    x = torch.bernoulli(torch.rand(16, 1, 8, 8))
    torch.manual_seed(5)
    base_obj = vae.phase("theta_eta").objective(vae, {"x": x})
    lb = loss_from(base_obj)
    gb = torch.autograd.grad(lb, vae.phase_parameters(vae.phase("theta_eta")))
    # AA draws its generated samples first; draw them on the same stream then replay the base noise
    torch.manual_seed(5)
    ph = aa.phase("theta_eta")
    la_obj = _replay_after_fakes(aa, ph, x)
    la = loss_from(la_obj)
    ga = torch.autograd.grad(la, aa.phase_parameters(ph))
    assert torch.equal(la_obj.weight[16:], torch.zeros(16))
    assert torch.allclose(la, lb, atol=1e-5)
    for a, b in zip(ga, gb):
        assert torch.allclose(a, b, atol=1e-5)


def _replay_after_fakes(model, phase, x):
    """Run the AA objective with the encoder noise of the real half equal to the base run's."""
    import unidgm.techniques.adversary_activation as aa_mod
    real_gen = aa_mod.generate_fixed

    def fakes_without_consuming_rng(m, n, fake):
        state = torch.get_rng_state()
        out = real_gen(m, n, fake)
        torch.set_rng_state(state)
        return out
    aa_mod.generate_fixed = fakes_without_consuming_rng
    try:
        return phase.objective(model, {"x": x})
    finally:
        aa_mod.generate_fixed = real_gen


def test_aa_weights_follow_d_on_real_and_generated_examples():
    torch.manual_seed(0)
    aa = build_model("vae", SMALL_VAE, spec=SPEC, techniques={"aa": None})
    x = torch.bernoulli(torch.rand(8, 1, 8, 8))
    obj = aa.phase("theta_eta").objective(aa, {"x": x})
    d = aa["discriminator"]
    assert torch.allclose(obj.weight[:8], torch.sigmoid(d(x)).detach(), atol=1e-6)
    assert obj.weight.shape == (16,) and not obj.weight.requires_grad
    assert (obj.weight[8:] > 0).all()  # generated samples take part, weighted by D


def test_no_gradient_reaches_the_fixed_generated_samples():
    import unidgm.techniques.adversary_activation as aa_mod
    torch.manual_seed(0)
    aa = build_model("cvae", SMALL_VAE, spec=SPEC, techniques={"aa": None})
    x_fake, labels = aa_mod.generate_fixed(aa, 8, "sample")
    assert not x_fake.requires_grad and labels.shape == (8,)
    obj = aa.phase("theta_eta").objective(aa, {"x": torch.bernoulli(torch.rand(8, 1, 8, 8)),
                                                "c": torch.randint(10, (8,))})
    loss_from(obj).backward()
    assert all(p.grad is None for p in aa["discriminator"].parameters())  # φ is not moved by the θ,η phase


@pytest.mark.parametrize("tech,where", [
    # IW on every Eq. 3 θ step over generated samples; AA on every Eq. 12 (or IWAE) phase weighted by q_*
    ("iw", {"gan", "cgan", "acgan", "infogan", "bigan", "vaegan", "cyclegan", "ada", "aae"}),
    ("aa", {"vae", "cvae", "svae", "iwae", "aae", "avb"})])
def test_techniques_apply_exactly_where_the_maths_is_defined(tech, where):
    from unidgm.api import technique_matrix
    assert {m for m, row in technique_matrix().items() if row[tech] is None} == where


def test_a_technique_where_it_does_not_apply_names_where_it_does():
    with pytest.raises(ConfigError, match="vae"):
        build_model("gan", SMALL_GAN, spec=SPEC, techniques={"aa": None})
    with pytest.raises(ConfigError, match="gan"):
        build_model("vae", SMALL_VAE, spec=SPEC, techniques={"iw": None})


@pytest.mark.parametrize("name", ["acgan", "infogan"])
def test_iw_weights_only_the_adversarial_term_of_acgan_and_infogan(name):
    """Eq. 16 reweights ∇ log q^r_φ0(y|x_i); ACGAN's log q(c|x) and InfoGAN's log q_η(z|x) keep weight 1
    unless iw.terms=all."""
    from unidgm.core import iw_weights_eq16
    torch.manual_seed(0)
    base = build_model(name, SMALL_GAN, spec=SPEC)
    batch = {"x": torch.rand(16, 1, 8, 8), "c": torch.arange(16) % 10}
    phase = "theta_eta" if name == "infogan" else "theta"
    b_obj, _, _ = _phase_loss_and_grads(base, phase, batch)
    adv, aux = b_obj.adversarial, b_obj.value - b_obj.adversarial
    assert aux.abs().min() > 0  # the auxiliary term is there
    w = (iw_weights_eq16(b_obj.logit_fake, groups=b_obj.groups) if base.conditional
         else iw_weights_eq16(b_obj.logit_fake))
    for terms, expected in (("adversarial", w * adv + aux), ("all", w * (adv + aux))):
        iw = build_model(name, SMALL_GAN, spec=SPEC, techniques={"iw": {"terms": terms}})
        iw.load_state_dict(base.state_dict())
        obj, loss, _ = _phase_loss_and_grads(iw, phase, batch)
        got = obj.value * (obj.weight if obj.weight is not None else 1)
        assert torch.allclose(got, expected, atol=1e-6), terms
        assert loss.item() == pytest.approx(-expected.mean().item(), rel=1e-5)
    explained = build_model(name, SMALL_GAN, spec=SPEC, techniques={"iw": None}).explain()
    assert "auxiliary terms unweighted" in explained
