"""Whole training runs on real data, timed as whole processes: unidgm (CLI and API) against a hand-written
loop and pythae, paired and interleaved (``python -m benchmarks.run endtoend``).

Jobs: the MNIST VAE (784-500-500-50, batch 100, Adam 1e-3, fixed binarisation) and a DCGAN (batch 64).
Every runner is a fresh process started by this driver; its wall time runs from the moment it is started
to the end of training (imports, data loading and training included; each runner's final test-set ELBO
is computed after that, untimed, so that speed is never bought with a worse model). Step times along the
run (early vs late) come from unidgm's ``timing.jsonl`` and the peers' own clocks. Each repeat runs the
runners of a job in a fresh random order, one at a time; ratios are per repeat (paired), then the median.

pythae runs in its own virtual environment (``--pythae-python``, default ``.bench/pythae/bin/python``,
made on first use with torch 2.13.0 and pythae 0.1.2); it is never a dependency of unidgm.
"""

from __future__ import annotations

import json
import os
import random
import statistics as st
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from unidgm.report import machine, markdown_table

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PYTHAE_ENV = ROOT / ".bench" / "pythae"
JOBS = {"vae-mnist": {"steps": 3000, "runners": ("unidgm_cli", "unidgm_api", "hand", "pythae")},
        "dcgan-mnist": {"steps": 400, "runners": ("unidgm_cli", "hand")}}


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def ensure_pythae(python: Path) -> Path:
    if python.exists():
        return python
    subprocess.run([sys.executable, "-m", "venv", str(PYTHAE_ENV)], check=True)
    pip = PYTHAE_ENV / "bin" / "pip"
    subprocess.run([str(pip), "install", "-q", "torch==2.13.0"], check=True)  # the CPU build on this disk
    subprocess.run([str(pip), "install", "-q", "pythae==0.1.2"], check=True)
    return PYTHAE_ENV / "bin" / "python"


def _result(out: str) -> dict:
    for line in reversed(out.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"no RESULT line in the runner's output:\n{out[-2000:]}")


def _unidgm_args(job: str, steps: int) -> list[str]:
    if job == "vae-mnist":
        return ["vae", "--data", "mnist", f"steps={steps}", "batch_size=100", "binarize=fixed"]
    return ["gan", "--data", "mnist", f"steps={steps}", "batch_size=64", "model.arch=dcgan"]


def _unidgm_steps(run: Path) -> list:
    rows = [json.loads(ln) for ln in (run / "timing.jsonl").read_text().splitlines()]
    out, prev = [], (0, 0.0)
    for r in rows:
        out.append([r["step"], (r["wall_s"] - prev[1]) / (r["step"] - prev[0]) * 1000])
        prev = (r["step"], r["wall_s"])
    return out


def run_one(job: str, runner: str, steps: int, data_root: str, pythae_python: Path, tmp: Path) -> dict:
    t0 = time.time()
    if runner in ("unidgm_cli", "unidgm_api"):
        run = tmp / f"{job}-{runner}-{time.time_ns()}"
        args = _unidgm_args(job, steps)
        if runner == "unidgm_cli":
            cmd = [str(VENV_BIN / "unidgm"), "train", *args, "threads=1", "--no-progress", "--data-root", data_root,
                   "--out", str(run)]
        else:
            over = [a for a in args[3:]] + ["threads=1"]
            cmd = [sys.executable, "-c", "import sys, unidgm; unidgm.train(sys.argv[1], sys.argv[2], overrides="
                   "sys.argv[5:], out=sys.argv[3], data_root=sys.argv[4], progress=False)", args[0], args[2], str(run),
                   data_root, *over]
        p = subprocess.run(cmd, env=_env(), capture_output=True, text=True)
        wall = time.time() - t0
        if p.returncode:
            raise RuntimeError(f"{runner} failed:\n{p.stderr[-2000:]}")
        res = {"wall_s": wall, "steps": steps, "step_ms": _unidgm_steps(run)}
        if job == "vae-mnist":
            e = subprocess.run([str(VENV_BIN / "unidgm"), "eval", str(run), "--metrics", "elbo", "--data-root",
                                data_root], env=_env(), capture_output=True, text=True)
            res["test_elbo"] = json.loads((run / "metrics.json").read_text())["elbo"]["value"] if not e.returncode else None
        return res
    if runner == "hand":
        mod = "benchmarks.peers.hand_vae" if job == "vae-mnist" else "benchmarks.peers.hand_dcgan"
        cmd = [sys.executable, "-m", mod, str(steps), data_root, repr(t0)]
    else:  # pythae trains whole epochs: 3000 steps of 100 = 5 epochs of 60,000
        cmd = [str(pythae_python), "-m", "benchmarks.peers.pythae_vae", str(max(1, steps * 100 // 60000)), data_root,
               repr(t0), str(tmp / f"pythae-{time.time_ns()}")]
    p = subprocess.run(cmd, env=_env(), capture_output=True, text=True, cwd=ROOT)
    if p.returncode:
        raise RuntimeError(f"{runner} failed:\n{p.stderr[-2000:]}")
    return _result(p.stdout)


def late_vs_early(step_ms: list) -> float | None:
    """Median step time of the last quarter of the run over that of the first quarter (after warm-up)."""
    if len(step_ms) < 4:
        return None
    q = max(1, len(step_ms) // 4)
    early, late = [m for _, m in step_ms[1:1 + q]] or [step_ms[0][1]], [m for _, m in step_ms[-q:]]
    return round(st.median(late) / st.median(early), 3)


def main(argv: list[str]) -> dict:
    import argparse
    ap = argparse.ArgumentParser(prog="endtoend")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--jobs", default=",".join(JOBS))
    ap.add_argument("--vae-steps", type=int, default=JOBS["vae-mnist"]["steps"])
    ap.add_argument("--gan-steps", type=int, default=JOBS["dcgan-mnist"]["steps"])
    ap.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--pythae-python", default=str(PYTHAE_ENV / "bin" / "python"))
    args = ap.parse_args(argv)
    pythae = ensure_pythae(Path(args.pythae_python))
    rng = random.Random(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for job in args.jobs.split(","):
            steps = args.vae_steps if job == "vae-mnist" else args.gan_steps
            runners = JOBS[job]["runners"]
            res = {r: [] for r in runners}
            for rep in range(args.repeats):
                order = list(runners)
                rng.shuffle(order)
                for r in order:
                    out = run_one(job, r, steps, args.data_root, pythae, Path(tmp))
                    res[r].append(out)
                    print(f"{job} repeat {rep} {r}: {out['wall_s']:.1f} s", flush=True)
            row = {"job": job, "steps": steps, "paired": True, "repeats": args.repeats,
                   "unidgm_wall_s": [o["wall_s"] for o in res["unidgm_cli"]]}
            for r in runners:
                key = {"unidgm_cli": "unidgm", "unidgm_api": "unidgm_api", "hand": "hand", "pythae": "pythae"}[r]
                row[f"{key}_wall_s"] = [round(o["wall_s"], 2) for o in res[r]]
                row[f"{key}_late_vs_early"] = [late_vs_early(o["step_ms"]) for o in res[r]]
                if "test_elbo" in res[r][0]:
                    row[f"{key}_test_elbo"] = [o.get("test_elbo") for o in res[r]]
                if r != "unidgm_cli":
                    row[f"ratio_{key}_over_unidgm"] = round(st.median(
                        a["wall_s"] / b["wall_s"] for a, b in zip(res[r], res["unidgm_cli"])), 3)
            known = [v for v in row["unidgm_late_vs_early"] if v]
            row["late_vs_early_step_time"] = st.median(known) if known else None
            if "unidgm_test_elbo" in row:
                row["unidgm_test_metric"] = st.median(row["unidgm_test_elbo"])
            row["step_ms_unidgm_first_run"] = res["unidgm_cli"][0]["step_ms"]
            rows.append(row)
    m = machine()  # the driver's view of the machine; every runner uses 1 thread
    result = {"rows": rows, "date": time.strftime("%Y-%m-%d %H:%M"), "command": "python -m benchmarks.run endtoend " +
              " ".join(argv), "machine": {"processor": m["processor"], "cpu": m["cpu"], "cores": m["cpu_count"],
                                          "torch": m["torch"], "threads_per_run": 1,
                                          "load_before": os.getloadavg()[0]}}
    from benchmarks.run import write_results
    write_results("endtoend", result, render(result))
    return result


def render(res: dict) -> str:
    m = res["machine"]
    lines = ["# End-to-end training speed on real data (whole processes)", "",
             f"{res['date']}, {m['cpu']}, {m['cores']} cores, 1 thread per run, torch {m['torch']}; "
             f"`{res['command']}`. Wall time from process start to the end of training (imports, data loading, "
             "training, final checkpoint); ratios are peer wall / unidgm wall per repeat (paired), median. "
             f"Load average when it started: {m.get('load_before', float('nan')):.1f} (on 2 cores, a load near 2 "
             "means another job held the other core throughout: every runner shared the machine alike).", ""]
    rows = []
    for r in res["rows"]:
        elbo = " / ".join(f"{st.median(v):.2f}" if v and None not in v else "—" for v in
                          (r.get("unidgm_test_elbo"), r.get("hand_test_elbo"), r.get("pythae_test_elbo")))
        rows.append([r["job"], r["steps"], f"{st.median(r['unidgm_wall_s']):.1f}",
                     r.get("ratio_unidgm_api_over_unidgm", "—"), r.get("ratio_hand_over_unidgm", "—"),
                     r.get("ratio_pythae_over_unidgm", "—"), r["late_vs_early_step_time"],
                     elbo if r["job"].startswith("vae") else "—"])
    lines += markdown_table(["job", "steps", "unidgm CLI s", "ratio API", "ratio hand", "ratio pythae",
                             "unidgm late/early step", "test ELBO unidgm / hand / pythae"], rows)
    lines += ["", "A ratio above 1 means the peer took longer than unidgm. Per-repeat wall times and step-time ratios "
              "are in `endtoend.json`. The synthetic, kernel-level breakdown is `throughput.md`."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main(sys.argv[1:])
