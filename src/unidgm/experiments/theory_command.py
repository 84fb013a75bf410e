"""`unidgm theory lemma1|lemma2|modes|table1`: the paper's statements, checked and shown (the command's glue; the
theory itself lives in ``unidgm.theory``, which imports nothing from experiments)."""

from __future__ import annotations

from pathlib import Path


def add_theory_parser(sub) -> None:
    p = sub.add_parser("theory", help="run the paper's theory: lemma1, lemma2, modes, table1")
    p.add_argument("what", choices=["lemma1", "lemma2", "modes", "table1"],
                   help="lemma1: Eq. 6/8 gradients; lemma2: Eq. 12 = ELBO; modes: KL asymmetry pictures "
                        "and trained mode coverage; table1: the paper's Table 1 from the model definitions")
    p.add_argument("--out", default="results/theory", help="folder for figures and tables")
    p.add_argument("--seeds", type=int, default=3, help="seeds for the trained mode-coverage study")
    p.add_argument("--steps", type=int, default=2000, help="training steps per model in the mode study")
    p.add_argument("--data", default="ring8", help="2-D mixture for the mode study: ring8 or grid25")
    p.add_argument("--quick", action="store_true", help="a few steps, one seed (smoke run)")
    p.set_defaults(handler=run)


def run(args) -> int:
    out = Path(args.out)
    if args.what == "lemma1":
        from ..theory import run_lemma1
        run_lemma1(verbose=True)
    elif args.what == "lemma2":
        from ..theory import run_lemma2
        run_lemma2(verbose=True)
    elif args.what == "table1":
        from .tables import table1_markdown
        from ..report import write_text
        text = table1_markdown()
        print(text)
        write_text(out / "table1.md", text + "\n")
    else:
        from ..theory import run_kl_plot
        from ..theory.modes import run_mode_study
        run_kl_plot(out)  # the analytic picture: fits, printed and plotted
        seeds, steps = (1, 200) if args.quick else (args.seeds, args.steps)
        run_mode_study(out, data=args.data, seeds=seeds, steps=steps)
    return 0
