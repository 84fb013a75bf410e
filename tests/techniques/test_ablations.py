"""The ablation switches of the techniques (Tables 2 and 3 issue): IW's tempered weights (iw.temper), AA's number
of generated examples per real one (aa.ratio) and, beyond the paper, AA's classifier-agreement filter (aa.agree)."""

import pytest
import torch

from test_matrix import _loss_and_grads as _phase  # (objective, loss, gradients) of one phase on one batch
from unidgm.api import build_model
from unidgm.core import DataSpec
from unidgm.errors import ConfigError

POINTS = DataSpec((2,), 2)
IMAGES = DataSpec((1, 8, 8), 10)
SMALL = {"hidden": (16,)}


def _gan_pair(temper):
    torch.manual_seed(0)
    base = build_model("gan", SMALL, spec=POINTS)
    iw = build_model("gan", SMALL, spec=POINTS, techniques={"iw": {"temper": temper}})
    iw.load_state_dict(base.state_dict())
    return base, iw


def test_temper_zero_is_the_base_gan_bit_for_bit():
    base, iw = _gan_pair(0.0)
    batch = {"x": torch.randn(16, 2)}
    (_, lb, gb), (obj, li, gi) = _phase(base, "theta", batch), _phase(iw, "theta", batch)
    assert obj.terms["iw_ess_fraction"].item() == pytest.approx(1.0)
    assert torch.equal(lb, li) and all(torch.equal(a, b) for a, b in zip(gb, gi))


@pytest.mark.parametrize("temper", [0.5, 1.0, 2.0])
def test_tempered_weights_are_a_softmax_of_tau_times_the_logits(temper):
    _, iw = _gan_pair(temper)
    obj, _, _ = _phase(iw, "theta", {"x": torch.randn(16, 2)})
    # D's logits on the generated samples, weighted as (D/(1-D))^τ = exp(τ logit), normalised to mean 1
    expected = torch.softmax(temper * obj.logit_fake.detach(), 0) * 16
    ess = (expected.sum() ** 2 / (16 * (expected ** 2).sum())).item()
    assert obj.terms["iw_ess_fraction"].item() == pytest.approx(ess, rel=1e-5)
    assert obj.terms["iw_weight_max"].item() == pytest.approx(expected.max().item(), rel=1e-5)


def test_sharper_weights_have_a_smaller_effective_sample_size():
    ess = [_phase(_gan_pair(t)[1], "theta", {"x": torch.randn(16, 2)})[0].terms["iw_ess_fraction"].item()
           for t in (0.0, 1.0, 4.0)]
    assert ess[0] == pytest.approx(1.0) and ess[0] >= ess[1] >= ess[2]


def test_temper_is_validated_and_explained():
    with pytest.raises(ConfigError, match="temper"):
        build_model("gan", SMALL, spec=POINTS, techniques={"iw": {"temper": -1.0}})
    _, iw = _gan_pair(0.5)
    assert "(D/(1−D))^0.5" in iw.phase("theta").note


@pytest.mark.parametrize("ratio,fakes", [(1.0, 16), (2.0, 32), (0.5, 8)])
def test_aa_ratio_sets_the_generated_examples_per_real_one(ratio, fakes):
    model = build_model("vae", {**SMALL, "z_dim": 4}, spec=IMAGES, techniques={"aa": {"ratio": ratio}})
    obj, _, _ = _phase(model, "theta_eta", {"x": torch.bernoulli(torch.rand(16, 1, 8, 8))})
    assert int(obj.is_real.sum()) == 16 and int((obj.is_real == 0).sum()) == fakes


def _svae(agree):
    torch.manual_seed(0)
    return build_model("svae", {**SMALL, "z_dim": 4}, spec=IMAGES, techniques={"aa": {"agree": agree}})


def _svae_batch():
    g = torch.Generator().manual_seed(1)
    return {"x": torch.bernoulli(torch.rand(16, 1, 8, 8, generator=g)), "c": torch.arange(16) % 10,
            "x_u": torch.bernoulli(torch.rand(16, 1, 8, 8, generator=g))}


def test_aa_svae_records_the_share_of_generated_examples_that_show_their_label():
    model = _svae(False)
    obj, _, _ = _phase(model, "theta_eta", _svae_batch())
    share = obj.terms["aa_label_agreement"].item()
    assert 0.0 <= share <= 1.0 and int((obj.is_real == 0).sum()) == 16  # all generated examples kept


def test_aa_agree_keeps_only_generated_examples_the_classifier_agrees_with():
    model = _svae(True)
    torch.manual_seed(3)
    obj, _, _ = _phase(model, "theta_eta", _svae_batch())
    kept = int((obj.is_real == 0).sum())
    assert kept == round(obj.terms["aa_label_agreement"].item() * 16)
    # and each kept example is classified as the label it carries
    with torch.no_grad():  # a classifier that always says "3": only the generated examples of label 3 remain
        lin = [m for m in model["classifier"].modules() if isinstance(m, torch.nn.Linear)][-1]
        lin.weight.zero_()
        lin.bias.copy_(torch.arange(10.0) == 3)
    torch.manual_seed(7)
    obj, _, _ = _phase(model, "theta_eta", _svae_batch(), seed=7)
    torch.manual_seed(7)
    labels = torch.randint(10, (16,))  # generate_fixed draws the labels first
    assert int((obj.is_real == 0).sum()) == int((labels == 3).sum())


def test_aa_agree_is_refused_without_a_classifier():
    with pytest.raises(ConfigError, match="agree"):
        build_model("vae", SMALL, spec=IMAGES, techniques={"aa": {"agree": True}})


@pytest.mark.parametrize("real,seen", [("all", 32), ("labelled", 16)])
def test_aa_discriminator_learns_every_real_image_of_a_semi_supervised_batch(real, seen):
    """The θ,η phase weights M2's unlabelled images by D(x) too, so D's real examples include them (aa.real=all);
    with the labelled stream only, D learns the few labelled images as "real" and weighs the rest down."""
    torch.manual_seed(0)
    model = build_model("svae", {**SMALL, "z_dim": 4}, spec=IMAGES, techniques={"aa": {"real": real}})
    sizes = []
    hook = model["discriminator"].register_forward_hook(lambda m, args, out: sizes.append(len(args[0])))
    model.phase("phi").objective(model, _svae_batch())
    hook.remove()
    assert sizes == [seen, 16]  # real examples, then the 16 generated ones
