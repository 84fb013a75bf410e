"""Speed options of the loop: Adam implementations, torch.compile and channels-last, in place."""

import pytest
import torch

from unidgm import api
from unidgm.core import DataSpec
from unidgm.train.config import TrainConfig
from unidgm.train.loop import Trainer
from unidgm.train.speed import adam_options, compile_nets, part_nets


def _trained(model_name, spec, x, **options):
    torch.manual_seed(0)
    model = api.build_model(model_name, spec=spec)
    trainer = Trainer(model, None, TrainConfig(progress=False, **options))
    for step in range(4):
        trainer.step = step
        trainer.train_step({"x": x})
    return model


@pytest.mark.parametrize("name,spec,shape", [("gan", DataSpec((2,)), (32, 2)), ("vae", DataSpec((1, 8, 8)), (32, 1, 8, 8))])
def test_adam_foreach_and_for_give_the_same_bits(name, spec, shape):
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(1))
    runs = []
    for adam in ("foreach", "for"):
        torch.manual_seed(5)  # the same noise in both runs
        runs.append(_trained(name, spec, x, adam=adam))
    for other in runs[1:]:
        for (k, a), b in zip(runs[0].state_dict().items(), other.state_dict().values()):
            assert torch.equal(a, b), k


@pytest.mark.parametrize("name,spec,shape", [("gan", DataSpec((2,)), (32, 2)), ("vae", DataSpec((1, 8, 8)), (32, 1, 8, 8))])
def test_adam_auto_is_fused_on_cpu_and_equals_the_reference_update(name, spec, shape):
    """auto = one fused kernel on CPU; it computes Adam's update (the per-tensor loop's numbers up to rounding)."""
    assert all(o.defaults["fused"] for o in
               Trainer(api.build_model(name, spec=spec), None, TrainConfig(progress=False)).optimizers.values())
    assert adam_options("auto", "cpu") == {"fused": True} and adam_options("auto", "meta") == {"foreach": True}
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(1))
    runs = []
    for adam in ("auto", "fused", "for"):
        torch.manual_seed(5)
        runs.append(_trained(name, spec, x, adam=adam))
    for (k, a), b, c in zip(runs[0].state_dict().items(), runs[1].state_dict().values(), runs[2].state_dict().values()):
        assert torch.equal(a, b), k  # auto is fused
        if a.is_floating_point():
            assert torch.allclose(a, c, rtol=1e-4, atol=1e-6), k  # the same update as torch's reference loop


def test_fused_adam_trains():
    x = torch.rand(32, 2)
    model = _trained("gan", DataSpec((2,)), x, adam="fused")
    assert all(o.defaults["fused"] for o in Trainer(model, None, TrainConfig(adam="fused")).optimizers.values())


def test_compile_and_channels_last_keep_the_module_tree_and_checkpoint_keys():
    model = api.build_model("gan", spec=DataSpec((1, 28, 28)))  # DCGAN: convolutions and BatchNorm
    keys = list(model.state_dict())
    Trainer(model, None, TrainConfig(progress=False, compile=True, channels_last=True))
    assert list(model.state_dict()) == keys  # checkpoints and unidgm.load unchanged
    nets = part_nets(model)
    assert len(nets) == 2 and all(n._compiled_call_impl is not None for n in nets)
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    compile_nets(model)  # idempotent
    assert list(model.state_dict()) == keys


def test_bf16_autocast_trains_on_cpu():
    x = torch.rand(32, 1, 8, 8)
    torch.manual_seed(0)
    model = api.build_model("vae", spec=DataSpec((1, 8, 8)))
    before = [p.detach().clone() for p in model.parameters()]
    trainer = Trainer(model, None, TrainConfig(progress=False, precision="bf16"))
    logs = trainer.train_step({"x": torch.bernoulli(x)})
    assert torch.isfinite(logs["theta_eta/loss"]) and trainer.skipped == 0
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast: fp32 master weights
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_keep_freed_memory_takes_effect_on_glibc_and_is_idempotent():
    import platform

    from unidgm.train.speed import keep_freed_memory
    ok = keep_freed_memory()
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert ok is True
    assert keep_freed_memory() is ok  # a second call changes nothing


def test_allocator_setting_is_validated():
    from unidgm.errors import ConfigError
    from unidgm.train.config import TrainConfig
    with pytest.raises(ConfigError, match="allocator"):
        TrainConfig(allocator="jemalloc")


def test_training_with_threads_leaves_the_callers_thread_count_alone():
    """`threads=1` holds during the run only: an API user's process keeps its own setting."""
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    run = api.train("vae", "digits", overrides={"steps": 3, "threads": target, "model.hidden": "8", "model.z_dim": 2,
                                                 "ckpt_every": 0},
                    out="threads-run", progress=False)
    assert run.settings.train.threads == target
    assert torch.get_num_threads() == before


def test_torch_threads_restores_after_an_error():
    from unidgm.train.speed import torch_threads
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        with torch_threads(before + 1):
            assert torch.get_num_threads() == before + 1
            raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_data_stays_on_the_host_on_cpu_and_moves_to_a_gpu_that_has_room(monkeypatch):
    from unidgm.train.speed import data_resident
    x = torch.zeros(1000, 784)  # 3.1 MB
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert not data_resident("auto", cpu, [x]) and not data_resident("yes", cpu, [x])
    assert data_resident("yes", cuda, [x]) and not data_resident("no", cuda, [x])
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (100 * 2 ** 20, 200 * 2 ** 20))
    assert data_resident("auto", cuda, [x])             # 3 MB < 100 MB / 4
    assert not data_resident("auto", cuda, [x] * 10)    # 31 MB > 25 MB
