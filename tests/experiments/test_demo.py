"""The demo: Table 1 from the code, GAN vs IWGAN on ring8, VAE vs AA-VAE on digits, a results folder."""

import json

from unidgm.experiments.demo import demo_variants, run_demo


def test_demo_pairs_share_budgets():
    gan, iwgan, vae, aavae = demo_variants(100)
    assert iwgan.overrides == gan.overrides and iwgan.techniques == ("iw",)
    assert aavae.overrides == vae.overrides and aavae.techniques == ("aa",)
    assert gan.steps == vae.steps == 100


def test_run_demo_with_tiny_steps(tmp_path):
    lines = []
    out = run_demo(tmp_path / "demo", steps=4, seeds=(0,), jobs=1, log=lambda *a: lines.append(" ".join(map(str, a))))
    text = "\n".join(lines)
    assert "KL(p_θ(x\\|y) ‖ q^r(x\\|y))" in text  # Table 1, read off the models
    assert "GAN → IWGAN" in text and "VAE → AA-VAE" in text and str(out.resolve()) in text
    for f in ("README.md", "summary.md", "summary.csv", "summary.json", "figures/curves.png",
              "figures/samples-gan.png", "figures/samples-aa-vae.png"):
        assert (out / f).exists(), f
    rows = {r["variant"]: r for r in json.loads((out / "summary.json").read_text())["rows"]}
    assert rows["iwgan"]["modes_captured"]["mean"] is not None and rows["aa-vae"]["elbo"]["mean"] < 0
