"""Training throughput of unidgm against a hand-written PyTorch loop of the same networks.

    python -m benchmarks.run throughput [--quick] [--threads N] [--no-compile] [--no-ddp]

Measured in one run, interleaved (each repeat times every variant in turn, so load drifts hit
them alike), on synthetic data of MNIST's shape held in memory:

* **VAE** (MLP 784-500-500-50, Bernoulli decoder, batch 100) and **GAN** (DCGAN for 28x28,
  batch 64): training samples/s through ``Trainer.train_step`` (phases, objectives, ``loss_from``,
  the non-finite guard) against a minimal hand-written loop that calls the very same network
  modules (``part.net``) with the same batch, the same algorithm (the VAE's reparameterised
  ELBO; the GAN's discriminator step on fresh fakes, then the non-saturating generator step on
  fresh fakes) and torch's default Adam (``torch.optim.Adam(params, lr)``: on CPU a Python loop
  over the tensors). The hand GAN loop is written as in PyTorch's DCGAN example: its generator
  backward also fills the discriminator's gradients, which unidgm's per-phase backward
  (``inputs=``) does not compute. Every variant runs in its own worker process, driven in turns by
  this one (``serve``), so a process-wide setting of one (unidgm's ``allocator=auto``) never helps
  another. A second reference, ``hand_same_footing``, is the hand loop given what unidgm's defaults
  adds (its default Adam, fused on CPU and CUDA, and freed memory kept): unidgm default over it is the
  framework's own cost, ``framework_cost_vs_hand_same_footing``.
  Variants: ``unidgm`` (default config); ``unidgm_fast``, the fp32 speed options (``adam=fused
  channels_last=true``, plus ``compile=true`` on CUDA); ``unidgm_compiled`` (fast with
  ``compile=true``, on CPU too); ``unidgm_bf16`` (fast plus ``precision=bf16``: autocast, so no
  longer fp32 arithmetic). A ``ratio_*`` is the median over repeats of (variant samples/s) /
  (hand samples/s) measured back to back, for the default, fast and bf16 variants.
* the VAE step's achieved FLOP/s (matmul FLOPs counted by ``FlopCounterMode``) as a fraction of
  this machine's fp32 matmul peak, measured in the same run with the same thread count;
* DDP scaling of the VAE: samples/s of one plain process vs two torchrun processes (gloo on CPU,
  NCCL on GPUs) with the same per-process batch and one thread each; efficiency = S2 / (2 S1);
* peak memory of unidgm vs the hand loop, each in a fresh process (RSS; CUDA max allocated on GPU).

Writes ``benchmarks/results/throughput.json`` and ``throughput.md``.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import resource
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

import torch.nn.functional as F

from benchmarks.run import write_results
from unidgm.report import machine, markdown_table

ROOT = Path(__file__).resolve().parents[1]
CASES = {"vae": 100, "gan": 64}  # batch sizes
# The fp32 speed options: fused Adam and channels-last everywhere; torch.compile where it pays, on CUDA.
# On CPU, compiling these matmul/convolution-bound nets is slower than eager MKL/oneDNN (measured as
# the `unidgm_compiled` variant), so the CPU's fast path leaves it out.
FAST = {"adam": "fused", "channels_last": True, "compile": torch.cuda.is_available()}
VARIANTS = {"unidgm": {}, "unidgm_fast": FAST, "unidgm_compiled": {**FAST, "compile": True},
            "unidgm_bf16": {**FAST, "precision": "bf16"}}
RATIOS = {"unidgm": "default", "unidgm_fast": "fast", "unidgm_bf16": "bf16"}  # variant -> ratio_<key>_vs_hand


# --- the models and the two ways of training them -----------------------------------------------

def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def build(case: str, seed: int = 0):
    from unidgm.api import build_model
    from unidgm.core import DataSpec
    torch.manual_seed(seed)
    return build_model(case, spec=DataSpec((1, 28, 28), 10)).to(device())


def batches(case: str, n: int = 8, seed: int = 1) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    xs = [torch.rand(CASES[case], 1, 28, 28, generator=g) for _ in range(n)]
    if case == "vae":  # binarised, as the Bernoulli decoder is trained
        xs = [torch.bernoulli(x, generator=g) for x in xs]
    return [x.to(device()) for x in xs]


def unidgm_step(model, **options):
    """One training step of the framework: ``Trainer.train_step`` on a batch, as ``fit`` runs it."""
    from unidgm.train.config import TrainConfig
    from unidgm.train.loop import Trainer
    trainer = Trainer(model, None, TrainConfig(progress=False, **options))

    def step(x):
        trainer.train_step({"x": x})
        trainer.step += 1
    return step


def hand_step(case: str, model, copy_nets: bool = True, **adam):
    """A minimal hand-written loop over the same ``nn`` modules the unidgm parts hold (``adam``:
    extra ``torch.optim.Adam`` options; none, as a minimal loop is written, by default)."""
    take = copy.deepcopy if copy_nets else (lambda m: m)
    if case == "vae":
        enc, dec = take(model.parts["encoder"].net), take(model.parts["decoder"].net)
        opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3, **adam)

        def step(x):
            mean, log_var = enc(x).chunk(2, dim=-1)
            log_var = log_var.clamp(-12.0, 8.0)
            z = mean + torch.randn_like(mean) * (0.5 * log_var).exp()
            nll = F.binary_cross_entropy_with_logits(dec(z), x, reduction="none").flatten(1).sum(1)
            kl = 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).sum(1)
            loss = (nll + kl).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return step

    gen, disc = take(model.parts["generator"].net), take(model.parts["discriminator"].net)
    z_dim = model.parts["prior"].dim
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999), **adam)
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.999), **adam)

    def step(x):
        n = x.shape[0]
        ones, zeros = torch.ones(n, device=x.device), torch.zeros(n, device=x.device)
        with torch.no_grad():
            fake = gen(torch.randn(n, z_dim, device=x.device))
        d_loss = F.binary_cross_entropy_with_logits(torch.cat([disc(x)[:, 0], disc(fake)[:, 0]]),
                                                    torch.cat([ones, zeros]))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_loss = F.binary_cross_entropy_with_logits(disc(gen(torch.randn(n, z_dim, device=x.device)))[:, 0], ones)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
    return step


# --- measurements --------------------------------------------------------------------------------

CLOCK = {"fn": time.perf_counter, "name": "wall"}


def use_cpu_clock(on: bool) -> None:
    """Time with this process's CPU time: with one thread on a CPU, that is the time the work took,
    whatever else the machine runs (other processes' time slices are not counted)."""
    CLOCK.update(fn=time.process_time, name="process CPU time") if on else CLOCK.update(fn=time.perf_counter, name="wall")


def time_steps(step, xs, k: int) -> float:
    """Samples/s of k steps, by the benchmark's clock."""
    clock = CLOCK["fn"]
    sync()
    t = clock()
    for i in range(k):
        step(xs[i % len(xs)])
    sync()
    return k * xs[0].shape[0] / (clock() - t)


def _quartiles(values: list[float]) -> list[float]:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
    return [round(q[0], 3), round(q[2], 3)]


REFERENCE = "hand_same_footing"  # the hand loop with unidgm's default Adam and allocator setting


def make_step(case: str, name: str, variants: dict):
    """The step function of one variant, built in this (worker) process."""
    if name == "hand":
        return hand_step(case, build(case))
    if name == REFERENCE:
        from unidgm.train.speed import keep_freed_memory
        keep_freed_memory()
        from unidgm.train.speed import adam_options
        return hand_step(case, build(case), **adam_options("auto", device()))
    return unidgm_step(build(case), **variants[name])


def serve(case: str, name: str, variants: dict) -> None:
    """Worker: build one variant, warm it up, then answer each line ``k`` on stdin with the samples/s
    of k steps (JSON on stdout). Each variant lives in its own process, so that what one sets for
    the whole process (unidgm's allocator setting) never reaches another, as with a real user's script."""
    xs = batches(case)
    step = make_step(case, name, variants)
    t = time.perf_counter()
    for i in range(3):  # warm-up (and compilation, timed separately)
        step(xs[i % len(xs)])
    sync()
    print(json.dumps({"warmup_s": round(time.perf_counter() - t, 2)}), flush=True)
    for line in sys.stdin:
        print(json.dumps({"rate": time_steps(step, xs, int(line))}), flush=True)


def select_variants(argv: list[str]) -> dict:
    """The unidgm variants this run measures (``--no-compile`` drops compilation everywhere); the
    controller and every worker read them from the same options."""
    if "--no-compile" not in argv:
        return dict(VARIANTS)
    return {k: {o: x for o, x in v.items() if o != "compile"} for k, v in VARIANTS.items() if k != "unidgm_compiled"}


class _Server:
    def __init__(self, case: str, name: str, threads: int, options: list[str]):
        cmd = [sys.executable, "-m", "benchmarks.throughput", "--serve", case, name, "--threads", str(threads),
               *options]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=_python_env(threads), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.warmup_s = self._reply()["warmup_s"]

    def _reply(self) -> dict:
        for line in self.proc.stdout:
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"benchmark worker {self.proc.args} exited with {self.proc.wait()}")

    def rate(self, k: int) -> float:
        self.proc.stdin.write(f"{k}\n")
        self.proc.stdin.flush()
        return self._reply()["rate"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def throughput(case: str, repeats: int, seconds: float, variants: dict, threads: int, options: list[str]) -> dict:
    """``options``: the run's command-line options that shape a worker (``--wall``, ``--no-compile``)."""
    names = ["hand", REFERENCE, *variants]
    servers = {name: _Server(case, name, threads, options) for name in names}
    try:
        probe = servers["hand"].rate(2)
        k = max(2, int(seconds * probe / CASES[case]))  # steps per timed chunk
        runs = {name: [] for name in names}
        order = random.Random(0)  # a fresh order each repeat: no variant always runs after the same one
        for _ in range(repeats):  # interleaved: one chunk per process in turn, the others wait idle
            for name in order.sample(names, len(names)):
                runs[name].append(servers[name].rate(k))
    finally:
        for server in servers.values():
            server.close()
    out = {"batch": CASES[case], "steps_per_chunk": k, "repeats": repeats,
           "samples_per_s": {n: round(statistics.median(v), 1) for n, v in runs.items()},
           "runs": {n: [round(s, 1) for s in v] for n, v in runs.items()},
           "warmup_s": {n: s.warmup_s for n, s in servers.items()}}
    for name in variants:
        paired = [a / b for a, b in zip(runs[name], runs["hand"])]
        if name in RATIOS:
            out[f"ratio_{RATIOS[name]}_vs_hand"] = round(statistics.median(paired), 3)
            out[f"quartiles_{RATIOS[name]}_vs_hand"] = _quartiles(paired)
        else:
            out[f"{name}_vs_hand_median"] = round(statistics.median(paired), 3)
    # the framework's own cost: unidgm default vs the hand loop given the same Adam and allocator setting
    same = [a / b for a, b in zip(runs["unidgm"], runs[REFERENCE])]
    out["framework_cost_vs_hand_same_footing"] = round(1 - statistics.median(same), 3)
    out["hand_same_footing_vs_hand_median"] = round(statistics.median(
        [a / b for a, b in zip(runs[REFERENCE], runs["hand"])]), 3)
    return out


def _is_dense(name: str) -> bool:
    op = name.removeprefix("aten::")
    return name.startswith("aten::") and (op in ("mm", "addmm", "bmm", "linear", "matmul") or "conv" in op
                                          or op.startswith("mkldnn_"))


def profile_breakdown(case: str, variants: dict, steps: int = 4) -> dict:
    """Per-step CPU ms of each loop split into dense kernels (matmul/convolution, forward and
    backward), the optimiser step, and everything else (torch.profiler, self times)."""
    from torch.profiler import ProfilerActivity, profile
    xs = batches(case)
    out = {}
    with profile(activities=[ProfilerActivity.CPU]):  # the profiler's own first-use cost, not counted
        hand_step(case, build(case))(xs[0])
    for name in ("hand", *variants):
        step = hand_step(case, build(case)) if name == "hand" else unidgm_step(build(case), **variants[name])
        for i in range(5):
            step(xs[i % len(xs)])
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for i in range(steps):
                step(xs[i % len(xs)])
        events = prof.key_averages()
        total = sum(e.self_cpu_time_total for e in events)
        dense = sum(e.self_cpu_time_total for e in events if _is_dense(e.key))
        optim = sum(e.cpu_time_total for e in events if e.key.startswith("Optimizer.step"))
        ms = lambda us: round(us / steps / 1000, 2)  # noqa: E731
        out[name] = {"total_ms": ms(total), "dense_ms": ms(dense), "optimizer_ms": ms(optim),
                     "other_ms": ms(total - dense - optim)}
    return out


def matmul_peak(seconds: float = 0.5) -> dict:
    """Best fp32 matmul FLOP/s over a few square sizes, on this device and thread count."""
    best = {"flop_s": 0.0}
    for n in (512, 1024, 2048):
        a, b = torch.randn(n, n, device=device()), torch.randn(n, n, device=device())
        for _ in range(2):
            a @ b
        sync()
        clock = CLOCK["fn"]
        reps, t = 0, clock()
        while clock() - t < seconds:
            a @ b
            reps += 1
            if reps % 4 == 0:
                sync()
        sync()
        rate = 2 * n ** 3 * reps / (clock() - t)
        if rate > best["flop_s"]:
            best = {"flop_s": rate, "n": n}
    return best


def vae_flops(samples_per_s: float, peak: dict, profile: dict | None = None, bf16_samples_per_s=None,
              fast_samples_per_s=None) -> dict:
    """Achieved matmul FLOP/s of the default VAE step vs the fp32 peak, decomposed as
    (the dense kernels' own rate at these shapes / peak) × (the dense kernels' share of the step)."""
    from torch.utils.flop_counter import FlopCounterMode
    model = build("vae")
    step, x = unidgm_step(model), batches("vae", 1)[0]
    step(x)
    with FlopCounterMode(display=False) as counter:
        step(x)
    flops = counter.get_total_flops()
    achieved = flops * samples_per_s / x.shape[0]
    out = {"flop_per_step": flops, "achieved_flop_s": achieved, "peak_matmul_flop_s": peak["flop_s"],
           "peak_matmul_n": peak["n"], "fraction_of_peak": round(achieved / peak["flop_s"], 3),
           "note": "matmul FLOPs of forward and backward (FlopCounterMode); elementwise work and Adam not counted"}
    if profile and profile["unidgm"]["dense_ms"]:
        p = profile["unidgm"]
        out["dense_kernels_fraction_of_peak"] = round(flops / (p["dense_ms"] / 1e3) / peak["flop_s"], 3)
        out["dense_share_of_step"] = round(p["dense_ms"] / p["total_ms"], 3)
    if fast_samples_per_s:  # the fp32 speed options (fused Adam: the largest non-dense share shrinks)
        out["fast_fraction_of_peak"] = round(flops * fast_samples_per_s / x.shape[0] / peak["flop_s"], 3)
    if bf16_samples_per_s:  # the same FLOPs in bf16 (autocast), against the fp32 peak
        out["bf16_fraction_of_fp32_peak"] = round(flops * bf16_samples_per_s / x.shape[0] / peak["flop_s"], 3)
    return out


def _python_env(threads: int) -> dict:
    return dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=os.pathsep.join(
        [str(ROOT), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]), PYTHONWARNINGS="ignore")


def _worker(args: list[str], threads: int, nproc: int = 0, timeout: float = 300) -> dict:
    """Run this module as a worker (under torchrun when nproc > 0); it prints one JSON line."""
    launcher = [sys.executable] if not nproc else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                   f"--nproc_per_node={nproc}"]
    cmd = [*launcher, "-m", "benchmarks.throughput", *args, "--threads", str(threads)]
    proc = subprocess.run(cmd, cwd=ROOT, env=_python_env(threads), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-4000:]}")
    return json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])


def ddp_worker(steps: int) -> dict:
    """VAE steps/s with the per-process batch of 100: plain, or one DDP rank under torchrun."""
    from unidgm.train.config import TrainConfig
    from unidgm.train.distributed import launch
    from unidgm.train.loop import Trainer
    with launch() as ctx:
        model = build("vae")
        if ctx is not None:
            ctx.wrap(model)
        trainer = Trainer(model, None, TrainConfig(progress=False), distributed=ctx)
        xs = batches("vae", seed=1 + (ctx.rank if ctx else 0))

        def step(x):
            trainer.train_step({"x": x})
            trainer.step += 1
        for i in range(5):
            step(xs[i % len(xs)])
        if ctx is not None:
            ctx.barrier()
        cpu = time.process_time()
        rate = time_steps(step, xs, steps)  # wall clock (the worker never switches to CPU time)
        cpu_rate = steps * xs[0].shape[0] / (time.process_time() - cpu)
        world = ctx.world_size if ctx else 1
        if ctx is not None:
            ctx.barrier()
        if ctx is None or ctx.rank == 0:
            print(json.dumps({"samples_per_s": rate * world, "samples_per_cpu_s": cpu_rate * world,
                              "world_size": world}), flush=True)
    return {}


def ddp_scaling(steps: int) -> dict:
    one = _worker(["--ddp-worker", str(steps)], threads=1)
    two = _worker(["--ddp-worker", str(steps)], threads=1, nproc=2)
    return {"per_process_batch": CASES["vae"], "threads_per_process": 1, "steps": steps,
            "samples_per_s_1proc": round(one["samples_per_s"], 1), "samples_per_s_2proc": round(two["samples_per_s"], 1),
            "efficiency": round(two["samples_per_s"] / (2 * one["samples_per_s"]), 3),
            "efficiency_cpu_time": round(two["samples_per_cpu_s"] / (2 * one["samples_per_cpu_s"]), 3),
            "note": "efficiency: wall clock, S2 / (2 S1); efficiency_cpu_time: the same by each process's CPU "
                    "time (communication work counted, time descheduled or blocked not), an upper bound that "
                    "a busy shared machine cannot spoil",
            "backend": "nccl" if torch.cuda.is_available() else "gloo"}


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def _reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (Linux >= 4.0), so the peak is that of training alone."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_worker(case: str, variant: str, steps: int) -> dict:
    model = build(case)
    step = hand_step(case, model, copy_nets=False) if variant == "hand" else unidgm_step(model)
    xs = batches(case)
    before, reset = _rss_mb(), _reset_peak_rss()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    for i in range(steps):
        step(xs[i % len(xs)])
    sync()
    out = {"rss_before_mb": round(before, 1), "peak_rss_mb": round(_peak_rss_mb(), 1), "peak_is_training_only": reset}
    out["training_rss_growth_mb"] = round(out["peak_rss_mb"] - before, 1)
    if torch.cuda.is_available():
        out["cuda_max_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2 ** 20, 1)
    print(json.dumps(out), flush=True)
    return out


def memory(threads: int, steps: int) -> dict:
    out = {}
    for case in CASES:
        res = {v: _worker(["--memory-worker", case, v, str(steps)], threads=threads) for v in ("hand", "unidgm")}
        key = "cuda_max_allocated_mb" if torch.cuda.is_available() else "peak_rss_mb"
        res["peak_overhead"] = round(res["unidgm"][key] / res["hand"][key] - 1, 3)
        res["measured"] = key
        out[case] = res
    return out


# --- the report ------------------------------------------------------------------------------------

def markdown(res: dict) -> str:
    m = res["machine"]
    lines = [f"# Throughput — {res['date']}", "",
             "A kernel-level breakdown on synthetic batches of a fresh model, timed in short interleaved chunks; "
             "it is not what a whole run costs. Whole runs on real data: `endtoend.md`.", "",
             f"`{res['command']}` on {m['device']} ({m['cpu']}, {m['cpu_count']} cores, {m['torch_threads']} threads), "
             f"torch {m['torch']}; load average at start {m['load_average_at_start']}, at end "
             f"{m.get('load_average_at_end')}; {res.get('runtime_s')} s.", "",
             f"Training samples/s by {res['clock']} (median of interleaved repeats, in a fresh random order each "
             "repeat); ×ratio = median over repeats of (variant / hand-written loop), with its interquartile "
             "range. Each variant runs in its own process (chunks interleaved across processes). Targets: "
             "default ≥ 1.0, fast ≥ 1.5. The hand loop is a plain script: `torch.optim.Adam(params, lr)`, "
             "malloc as the system sets it. unidgm's defaults differ in two ways: "
             "`adam=auto` is torch's fused Adam (one kernel per step; on CPU, CUDA and MPS), and "
             "`allocator=auto` keeps freed memory in the process instead of page-faulting it back every step "
             "(`unidgm.train.speed.keep_freed_memory`). The last two columns give the hand loop both, and read "
             "the framework's own cost (objectives, phases, the non-finite guard, logging) against it.", "",
             f"Fast = {res['variants']['unidgm_fast']}.", ""]
    rows = []
    for case in CASES:
        r = res[case]
        s = r["samples_per_s"]
        cell = {v: f"{s[v]} (×{r[f'ratio_{k}_vs_hand']}, IQR {r[f'quartiles_{k}_vs_hand'][0]}–"
                   f"{r[f'quartiles_{k}_vs_hand'][1]})" for v, k in RATIOS.items() if v in s}
        if "unidgm_compiled" in s:
            cell["unidgm_compiled"] = f"{s['unidgm_compiled']} (×{r['unidgm_compiled_vs_hand_median']})"
        rows.append([case, r["batch"], s["hand"], cell["unidgm"], cell["unidgm_fast"],
                     cell.get("unidgm_compiled", "—"), cell["unidgm_bf16"], r["warmup_s"].get("unidgm_compiled", "—"),
                     f"{s[REFERENCE]} (×{r['hand_same_footing_vs_hand_median']})",
                     f"{r['framework_cost_vs_hand_same_footing']:+.1%}"])
    lines += markdown_table(["model", "batch", "hand loop", "unidgm default", "fast (fp32)", "fast + compile",
                             "fast + bf16", "warm-up incl. compile s", "hand loop on unidgm's footing",
                             "framework cost vs it"], rows)
    if "profile" in res:
        lines += ["", "Where a step's time goes (torch.profiler, CPU ms per step; dense = matmul/convolution "
                  "forward and backward kernels, the same in every variant in fp32):", ""]
        rows = []
        for case, prof in res["profile"].items():
            for name, p in prof.items():
                bound = f"×{prof['hand']['total_ms'] / p['dense_ms']:.2f}" if p["dense_ms"] else "—"
                rows.append([case, name, p["total_ms"], p["dense_ms"], p["optimizer_ms"], p["other_ms"], bound])
        lines += markdown_table(["model", "loop", "total", "dense", "Adam step", "other",
                                 "fp32 bound: hand total / dense"], rows)
    f = res["vae_flops"]
    lines += ["", f"VAE step: {f['flop_per_step'] / 1e6:.0f} MFLOP (matmuls, forward + backward), "
              f"{f['achieved_flop_s'] / 1e9:.1f} GFLOP/s achieved by the default path = "
              f"**{f['fraction_of_peak']:.0%}** of the measured fp32 matmul peak "
              f"({f['peak_matmul_flop_s'] / 1e9:.1f} GFLOP/s at n={f['peak_matmul_n']})."]
    if "dense_kernels_fraction_of_peak" in f:
        lines[-1] += (f" It factors as the dense kernels' own rate at the VAE's shapes (batch 100: 100×784·784×500 "
                      f"and their backward products) = {f['dense_kernels_fraction_of_peak']:.0%} of peak, times "
                      f"their share of the step = {f['dense_share_of_step']:.0%} (the rest: Adam, elementwise "
                      "ops, autograd).")
    if "fast_fraction_of_peak" in f:
        lines[-1] += f" With the fp32 speed options (fused Adam): {f['fast_fraction_of_peak']:.0%} of peak."
    if "bf16_fraction_of_fp32_peak" in f:
        lines[-1] += (f" The same FLOPs in the bf16 path run at {f['bf16_fraction_of_fp32_peak']:.0%} of the fp32 "
                      "peak.")
    if "ddp" in res:
        d = res["ddp"]
        lines += ["", f"DDP ({d['backend']}), VAE, batch {d['per_process_batch']} per process, "
                  f"{d['threads_per_process']} thread each: 1 process {d['samples_per_s_1proc']} samples/s, "
                  f"2 processes {d['samples_per_s_2proc']} samples/s, efficiency **{d['efficiency']:.0%}** by wall "
                  f"clock, {d['efficiency_cpu_time']:.0%} by CPU time (communication work counted, waiting "
                  "for a core not; the wall figure depends on what else the machine runs)."]
    lines += ["", "Peak memory in training, each in a fresh process (RSS high-water mark reset before the first step):",
              ""]
    rows = [[f"{case} ({r['measured']})", r["hand"][r["measured"]], r["unidgm"][r["measured"]],
             f"{r['peak_overhead']:+.1%}",
             f"{r['hand']['training_rss_growth_mb']} / {r['unidgm']['training_rss_growth_mb']}"]
            for case, r in res["memory"].items()]
    lines += markdown_table(["memory", "hand peak MB", "unidgm peak MB", "overhead",
                             "growth in training, hand / unidgm MB"], rows)
    if res.get("notes"):
        lines += ["", *res["notes"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    threads = int(argv[argv.index("--threads") + 1]) if "--threads" in argv else torch.get_num_threads()
    torch.set_num_threads(threads)
    if "--ddp-worker" in argv:
        return ddp_worker(int(argv[argv.index("--ddp-worker") + 1]))
    if "--serve" in argv:
        i = argv.index("--serve")
        use_cpu_clock(threads == 1 and not torch.cuda.is_available() and "--wall" not in argv)
        return serve(argv[i + 1], argv[i + 2], select_variants(argv))
    if "--memory-worker" in argv:
        i = argv.index("--memory-worker")
        return memory_worker(argv[i + 1], argv[i + 2], int(argv[i + 3]))
    quick = "--quick" in argv
    # one thread on a CPU: time by process CPU time (robust on a shared machine); else wall-clock time
    use_cpu_clock(threads == 1 and not torch.cuda.is_available() and "--wall" not in argv)
    variants = select_variants(argv)
    worker_options = [o for o in ("--wall", "--no-compile") if o in argv]
    started = time.perf_counter()
    res = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
           "command": "python -m benchmarks.run throughput " + " ".join(argv),
           "machine": {**machine(), "load_average_at_start": [round(v, 2) for v in os.getloadavg()]},
           "clock": CLOCK["name"],
           "variants": {"hand": "hand-written loop, torch.optim.Adam defaults", **{k: v or "defaults"
                                                                                   for k, v in variants.items()}}}
    for case in CASES:
        print(f"-- {case}: throughput", flush=True)
        res[case] = throughput(case, repeats=3 if quick else 25, seconds=0.4, variants=variants, threads=threads,
                               options=worker_options)
        print(json.dumps({k: v for k, v in res[case].items() if k != "runs"}), flush=True)
    print("-- profiles", flush=True)
    res["profile"] = {case: profile_breakdown(case, {k: variants[k] for k in ("unidgm", "unidgm_fast")},
                                              steps=(4 if quick else 30) if case == "vae" else (2 if quick else 6))
                      for case in CASES}
    print("-- fp32 matmul peak and VAE FLOP/s", flush=True)
    res["vae_flops"] = vae_flops(res["vae"]["samples_per_s"]["unidgm"], matmul_peak(), res["profile"]["vae"],
                                 res["vae"]["samples_per_s"].get("unidgm_bf16"),
                                 res["vae"]["samples_per_s"].get("unidgm_fast"))
    if "--no-ddp" not in argv:
        print("-- DDP scaling", flush=True)
        res["ddp"] = ddp_scaling(steps=20 if quick else 60)
    print("-- memory", flush=True)
    res["memory"] = memory(threads, steps=5 if quick else 20)
    res["targets"] = {
        "default_ge_1.0": all(res[c]["ratio_default_vs_hand"] >= 1.0 for c in CASES),
        "fast_ge_1.5": all(res[c]["ratio_fast_vs_hand"] >= 1.5 for c in CASES),
        "fast_bf16_ge_1.5": all(res[c]["ratio_bf16_vs_hand"] >= 1.5 for c in CASES),
        "memory_overhead_le_10%": all(r["peak_overhead"] <= 0.10 for r in res["memory"].values())}
    res["runtime_s"] = round(time.perf_counter() - started, 1)
    res["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    write_results("throughput", res, markdown(res))
    return res


if __name__ == "__main__":
    main()
