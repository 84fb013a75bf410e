"""pythae 0.1.2 training the same VAE as unidgm's ``train vae`` (784-500-500-50 ReLU MLPs, BCE
reconstruction, Adam 1e-3, batch 100, fixed-binarised MNIST), through pythae's TrainingPipeline — how a
pythae user runs it. Runs in its own virtual environment (pythae is never a unidgm dependency).

    PYTHON_OF_PYTHAE -m benchmarks.peers.pythae_vae EPOCHS DATA_ROOT T0 OUT_DIR
"""

from __future__ import annotations

import sys
import time

import torch
import torch.nn.functional as F
from pythae.models import VAE, VAEConfig
from pythae.models.base.base_utils import ModelOutput
from pythae.models.nn import BaseDecoder, BaseEncoder
from pythae.pipelines import TrainingPipeline
from pythae.trainers import BaseTrainerConfig
from pythae.trainers.training_callbacks import TrainingCallback
from torch import nn

from benchmarks.peers.common import StepClock, finish, read_mnist


def mlp(i: int, o: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(i, 500), nn.ReLU(), nn.Linear(500, 500), nn.ReLU(), nn.Linear(500, o))


class Encoder(BaseEncoder):
    def __init__(self):
        super().__init__()
        self.net = mlp(784, 100)

    def forward(self, x):
        mean, log_var = self.net(x.flatten(1)).chunk(2, -1)
        return ModelOutput(embedding=mean, log_covariance=log_var)


class Decoder(BaseDecoder):
    def __init__(self):
        super().__init__()
        self.net = mlp(50, 784)

    def forward(self, z):
        return ModelOutput(reconstruction=torch.sigmoid(self.net(z)).reshape(-1, 1, 28, 28))


class Clock(TrainingCallback):
    def __init__(self):
        self.clock, self.step = StepClock(), 0

    def on_train_step_end(self, training_config, **kwargs):
        self.step += 1
        self.clock.tick(self.step)


def main(epochs: int, root: str, t0: float, out_dir: str) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.bernoulli(torch.from_numpy(read_mnist(root, "train")), generator=torch.Generator().manual_seed(0))
    model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=50, reconstruction_loss="bce"),
                encoder=Encoder(), decoder=Decoder())
    cfg = BaseTrainerConfig(output_dir=out_dir, num_epochs=epochs, learning_rate=1e-3,
                            per_device_train_batch_size=100, per_device_eval_batch_size=100, no_cuda=True)
    clock = Clock()
    TrainingPipeline(training_config=cfg, model=model)(train_data=x.numpy(), callbacks=[clock])
    trained = time.time()
    xt = torch.bernoulli(torch.from_numpy(read_mnist(root, "test")), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        vals = []
        for i in range(0, len(xt), 500):
            e = model.encoder(xt[i:i + 500])
            mean, log_var = e.embedding, e.log_covariance
            z = mean + torch.randn_like(mean) * (0.5 * log_var).exp()
            logits = model.decoder.net(z)
            log_px = -F.binary_cross_entropy_with_logits(logits, xt[i:i + 500].flatten(1), reduction="none").sum(-1)
            vals.append(log_px - 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum(-1))
    finish({"wall_s": trained - t0, "steps": clock.step, "step_ms": clock.clock.marks,
            "test_elbo": float(torch.cat(vals).mean())})


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4])
