"""DistributedDataParallel on CPU: gloo, 2 processes launched by torchrun on this machine.

One torchrun launch (a module-scoped fixture) runs every 2-process scenario in the same process
group and saves each rank's results; the tests compare them. Run as a script, this file is the
worker: ``torchrun --standalone --nproc_per_node=2 tests/train/test_distributed.py worker OUT``.

Equivalence with one process: ADA on ``moons-rot`` has a deterministic objective (no generator,
reparameterisation or binarisation noise; MLPs, no BatchNorm), so the only thing that differs
between 2 processes with a global batch of 64 and 1 process with 64 is where the sums are split;
parameters and the per-step logged losses must agree to float tolerance after 10 steps (which cross
two epoch boundaries of the 256 labelled source examples). A
1-process run with batch 32 (what each rank sees) must *not* agree, which shows the comparison can
fail. Models that draw noise cannot match bit for bit: each rank draws its own noise by design.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve()
ROOT = HERE.parents[2]

# (name, model, data, overrides, techniques): trained on 2 ranks; parameters must stay identical
IDENTICAL = [
    ("gan", "gan", "ring8", ["steps=20", "batch_size=64"], ()),
    ("vae_aa", "vae", "digits", ["steps=12", "batch_size=32", "n_train=300"], ("aa",)),
    ("wake_sleep", "wake_sleep", "digits", ["steps=12", "batch_size=32", "n_train=300"], ()),
]
ADA = ("ada", "moons-rot", ["steps=10", "batch_size=64", "n_train=256", "log_every=1"])  # 4 source batches/epoch
COMMON = ["ckpt_every=0", "log_every=10"]


def _train(model, data, overrides, techniques=(), out="run", distributed=None):
    from unidgm import api
    return api.train(model, data, overrides=COMMON + list(overrides), techniques=techniques, out=out,
                     progress=False, distributed=distributed)


def _log(run) -> list[dict]:
    from unidgm.train.rundir import RunDir
    return RunDir(run.path).metrics()


def _params(model) -> dict:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


# --- the worker (runs under torchrun) ------------------------------------------------------------

def worker(out: Path) -> None:
    import unidgm.models.gan as gan_module
    from unidgm.train.distributed import gather_samples, launch

    torch.set_num_threads(1)
    with launch() as ctx:
        assert ctx is not None and ctx.world_size == 2
        res: dict = {"rank": ctx.rank}
        for name, model, data, overrides, techs in IDENTICAL:
            run = _train(model, data, overrides, techs, out=out / name, distributed=ctx)
            res[name] = {"params": _params(run.model), "metrics": run.metrics}
        run = _train(*ADA[:3], out=out / "ada", distributed=ctx)
        res["ada"] = {"params": _params(run.model), "metrics": run.metrics, "log": _log(run)}

        # a NaN loss on rank 1 only, at the discriminator phase's 5th call: both ranks skip that phase
        base, calls = gan_module.gan_phi, [0]

        def flaky_phi(model, batch):
            obj = base(model, batch)
            calls[0] += 1
            if ctx.rank == 1 and calls[0] == 5:
                obj.value = obj.value * float("nan")
            return obj

        gan_module.gan_phi = base.derive(flaky_phi)  # the same declarations around the faulty body
        try:
            run = _train("gan", "ring8", ["steps=10", "batch_size=64", "nonfinite=skip"], out=out / "nan",
                         distributed=ctx)
        finally:
            gan_module.gan_phi = base
        res["nan"] = {"params": _params(run.model), "metrics": run.metrics}

        # SIGTERM reaches rank 1 only, during its discriminator phase at step 7: both ranks must stop after
        # the same step (rank 0 saving the checkpoint), not leave rank 0 waiting in a collective
        import signal

        from unidgm.train.loop import Interrupted
        calls[0] = 0

        def signalled_phi(model, batch):
            calls[0] += 1
            if ctx.rank == 1 and calls[0] == 7:
                os.kill(os.getpid(), signal.SIGTERM)
            return base(model, batch)

        gan_module.gan_phi = base.derive(signalled_phi)
        try:
            _train("gan", "ring8", ["steps=40", "batch_size=64"], out=out / "stop", distributed=ctx)
            res["stop"] = {"step": None}
        except Interrupted as stop:
            res["stop"] = {"step": stop.step, "path": None if stop.path is None else str(stop.path)}
        finally:
            gan_module.gan_phi = base

        mine = torch.full((ctx.rank + 2, 3), float(ctx.rank))  # rank 0: 2 rows, rank 1: 3 rows
        res["gathered"] = gather_samples(mine)
        torch.save(res, out / f"rank{ctx.rank}.pt")


# --- the tests -----------------------------------------------------------------------------------

def _torchrun(args: list[str], cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"), PYTHONWARNINGS="ignore")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return proc


def _ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    _torchrun([str(HERE), "worker", str(out)], cwd=out)
    return [torch.load(out / f"rank{r}.pt") for r in (0, 1)]


import pytest  # noqa: E402  (the worker above runs without pytest's fixtures)


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    return _ranks(tmp_path_factory)


@pytest.mark.parametrize("name", [s[0] for s in IDENTICAL] + ["ada"])
def test_parameters_identical_across_ranks(ranks, name):
    r0, r1 = ranks[0][name], ranks[1][name]
    assert r0["params"].keys() == r1["params"].keys()
    for k, v in r0["params"].items():
        assert torch.equal(v, r1["params"][k]), f"{name}: parameter {k} differs between ranks"
    # the logged losses are global means (one all-reduce per phase), so both ranks log the same numbers
    assert r0["metrics"] == r1["metrics"]


def test_two_processes_match_one_process_with_the_global_batch(ranks):
    model, data, overrides = ADA
    one = _train(model, data, overrides, out="one")
    two = ranks[0]["ada"]
    log1, log2 = _log(one), two["log"]
    assert [e["step"] for e in log1] == [e["step"] for e in log2] == list(range(1, 11))
    for a, b in zip(log1, log2):  # every step's global-mean losses and terms
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-6), (a["step"], k)
    worst = max((one.model.get_parameter(k) - v).abs().max().item() for k, v in two["params"].items())
    assert worst < 1e-5, f"2 processes x 32 differ from 1 process x 64 by {worst}"
    # sensitivity: what each rank sees alone (batch 32) is a different run
    half = _train(model, data, [o if not o.startswith("batch_size") else "batch_size=32" for o in overrides], out="half")
    gap = max((half.model.get_parameter(k) - v).abs().max().item() for k, v in two["params"].items())
    assert gap > 1e-2 > 1000 * worst


def test_nonfinite_loss_on_one_rank_is_skipped_on_all(ranks):
    for r in ranks:
        assert r["nan"]["metrics"]["skipped_steps"] == 1
    for k, v in ranks[0]["nan"]["params"].items():
        assert torch.equal(v, ranks[1]["nan"]["params"][k])


def test_a_signal_on_one_rank_stops_every_rank_after_the_same_step(ranks):
    """The stop request rides on the phases' all-reduce: both ranks stop after step 7, rank 0 saves there."""
    steps = [r["stop"]["step"] for r in ranks]
    assert steps[0] == steps[1] == 7
    assert ranks[0]["stop"]["path"] and ranks[0]["stop"]["path"].endswith("ckpt-00000007")
    assert ranks[1]["stop"]["path"] is None  # only rank 0 writes the run folder


def test_gather_samples_concatenates_every_rank_in_order(ranks):
    expected = torch.cat([torch.zeros(2, 3), torch.ones(3, 3)])
    for r in ranks:
        assert torch.equal(r["gathered"], expected)


def test_gather_samples_without_a_process_group_is_the_identity():
    from unidgm.train.distributed import gather_samples
    t = torch.randn(4, 2)
    assert gather_samples(t) is t


def test_sharded_batches_reshuffle_every_epoch_and_cover_the_data():
    from unidgm.data import Batches
    n, world = 103, 2
    x = torch.arange(n)
    shards = [Batches(x, batch_size=10, generator=torch.Generator().manual_seed(7), rank=r, world_size=world)
              for r in range(world)]
    epochs = [[torch.cat([b[0] for b in s.epoch_iter(e)]) for s in shards] for e in (0, 1)]
    for e in epochs:
        assert not set(e[0].tolist()) & set(e[1].tolist())  # disjoint shards within an epoch
        assert len(e[0]) == len(e[1]) == 50
    assert not torch.equal(epochs[0][0], epochs[1][0])  # each rank's order changes between epochs
    assert set(shards[0].order(0).tolist()) | set(shards[1].order(0).tolist()) == set(range(n))


def test_cli_trains_and_resumes_under_torchrun(tmp_path):
    first = _torchrun(["-m", "unidgm", "train", "gan", "--data", "ring8", "steps=30", "ckpt_every=10",
                       "--no-progress"], cwd=tmp_path)
    assert first.stdout.count("trained gan on ring8") == 1  # rank 0 alone reports
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1  # every rank used rank 0's (timestamped) folder name
    again = _torchrun(["-m", "unidgm", "train", "--resume", str(runs[0]), "steps=50", "--no-progress"], cwd=tmp_path)
    assert again.stdout.count("trained gan on ring8") == 1
    steps = [json.loads(line)["step"] for line in (runs[0] / "metrics.jsonl").read_text().splitlines()]
    assert steps == [30, 50]
    assert (runs[0] / "checkpoints" / "latest").read_text().strip().endswith("50")


def test_batch_size_must_divide_among_processes():
    from unidgm import api
    from unidgm.errors import ConfigError
    from unidgm.train.distributed import Context

    ctx = Context(0, 3)  # never reaches a collective: the check comes first
    with pytest.raises(ConfigError, match="divisible"):
        api.train("gan", "ring8", overrides={"steps": 1, "batch_size": 64}, out="x", progress=False,
                  distributed=_NoBroadcast(ctx))


class _NoBroadcast:
    def __init__(self, ctx):
        self.rank, self.world_size = ctx.rank, ctx.world_size

    def broadcast_object(self, obj):
        return obj


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        worker(Path(sys.argv[2]))


def test_validation_best_checkpoint_and_early_stopping_under_torchrun(tmp_path):
    """Rank 0 validates, every rank makes the same selection decisions, so all stop after the same step."""
    out = tmp_path / "run"
    _torchrun(["-m", "unidgm", "train", "vae", "--data", "digits", "steps=400", "val=200", "eval_every=10",
               "patience=2", "model.lr=0.05", "--no-progress", "--out", str(out)], cwd=tmp_path)
    best = json.loads((out / "best.json").read_text())
    vals = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines() if "val/elbo" in ln]
    assert best["metric"] == "val/elbo" and vals[-1]["step"] < 400  # stopped early, on both ranks (exit 0)
    assert (out / "best" / f"ckpt-{best['step']:08d}").is_dir()
