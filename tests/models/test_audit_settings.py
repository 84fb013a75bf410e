"""Settings decided by the symmetric-view audit: CycleGAN's cycle L1 reduction, VAE/GAN's adversarial term on
reconstructions, and the AAE's 2-D swiss-roll prior refused with a config error (exit 2), not a ValueError."""

import pytest
import torch

from unidgm import api
from unidgm.cli import main
from unidgm.core import DataSpec
from unidgm.errors import ConfigError


def test_aae_swissroll_with_the_default_z_dim_is_a_config_error(capsys):
    with pytest.raises(ConfigError, match="z_dim=2"):
        api.build_model("aae", {"prior": "swissroll"}, spec=DataSpec((1, 8, 8), 10))
    assert api.build_model("aae", {"prior": "swissroll", "z_dim": 2}, spec=DataSpec((1, 8, 8), 10)).has("prior")
    assert main(["train", "aae", "--data", "digits", "model.prior=swissroll", "steps=1", "--no-progress",
                 "--out", "aae"]) == 2
    assert "z_dim" in capsys.readouterr().err


def test_cyclegan_cycle_reduction_mean_is_the_sum_over_numel():
    spec = DataSpec((2,), None)
    batch = {"x": torch.randn(16, 2), "x_t": torch.randn(16, 2)}
    terms = {}
    for reduction in ("sum", "mean"):
        torch.manual_seed(0)
        model = api.build_model("cyclegan", {"cycle_reduction": reduction, "hidden": [8]}, spec=spec)
        terms[reduction] = float(model.phase("theta").objective(model, batch).terms["cycle_l1"])
    assert terms["sum"] == pytest.approx(2 * terms["mean"], rel=1e-5)  # numel = 2
    with pytest.raises(ConfigError, match="cycle_reduction"):
        api.build_model("cyclegan", {"cycle_reduction": "max"}, spec=spec)


def test_vaegan_adversarial_term_on_reconstructions_is_a_setting():
    spec = DataSpec((1, 8, 8), 10)
    x = torch.rand(8, 1, 8, 8)
    torch.manual_seed(0)
    base = api.build_model("vaegan", {"hidden": [16], "z_dim": 4}, spec=spec)
    torch.manual_seed(0)
    recon = api.build_model("vaegan", {"hidden": [16], "z_dim": 4, "adv_on_recon": True}, spec=spec)
    assert not base.config.adv_on_recon  # off by default: the default numbers are unchanged
    def vaegan_phi(m, batch):
        return m.phase("phi").objective(m, batch)

    def vaegan_theta_eta(m, batch):
        return m.phase("theta_eta").objective(m, batch)
    assert "log_q_phi_recon" not in vaegan_phi(base, {"x": x}).terms
    phi, theta = vaegan_phi(recon, {"x": x}), vaegan_theta_eta(recon, {"x": x})
    assert phi.value.shape == (16,) and "log_q_phi_recon" in phi.terms and "log_qr_phi_recon" in theta.terms
    # same networks (same seed), same draws: only the reconstructions' term changes the θ objective
    values = []
    for model in (base, recon):
        torch.manual_seed(1)
        values.append(vaegan_theta_eta(model, {"x": x}).value)
    assert not torch.allclose(values[0], values[1])


def test_vaegan_discriminator_network_is_a_setting():
    from unidgm.nets import DCGANDiscriminator, MLP
    spec = DataSpec((1, 28, 28), 10)
    assert isinstance(api.build_model("vaegan", {}, spec=spec)["discriminator"].net, DCGANDiscriminator)
    assert isinstance(api.build_model("vaegan", {"d_arch": "mlp"}, spec=spec)["discriminator"].net, MLP)
    with pytest.raises(ConfigError, match="d_arch='cnn' must be one of"):
        api.build_model("vaegan", {"d_arch": "cnn"}, spec=spec)


def test_gan_mlp_generator_batch_norm_is_a_setting():
    """g_batch_norm puts BatchNorm before each hidden activation of an MLP generator; off, the module tree (and
    every checkpoint key) is the plain MLP's."""
    from torch import nn
    spec = DataSpec((1, 28, 28), 10)
    plain = api.build_model("gan", {"arch": "mlp"}, spec=spec)["generator"]
    normed = api.build_model("gan", {"arch": "mlp", "g_batch_norm": True}, spec=spec)["generator"]
    assert not any(isinstance(m, nn.BatchNorm1d) for m in plain.modules())
    assert sum(isinstance(m, nn.BatchNorm1d) for m in normed.modules()) == 2  # one per hidden layer
    assert not any("running_mean" in k for k in plain.state_dict())
    z = torch.randn(5, 64)
    normed.eval()  # running statistics: a batch of one samples too
    assert normed.net(z[:1]).shape == (1, 1, 28, 28) and (normed.net(z) >= 0).all()
