"""``python -m pipelines demo --preset paper [--paper-size 130m|1.3b] [--run]``: the real-scale recipe.

The demo's stages at the paper's scale on a GPU machine (Appendix C: 8 × A100, bf16): the hub's
pretrained Mamba2 as teacher (no pretraining), the four students distilled on GenQA +
InfinityInstruct + OpenHermes 2.5 (``pipelines/configs/paper_*.yaml``), the paper's plain DPO and KTO
on UltraFeedback (``rl_paper.yaml``) of the full model and of the dense teacher (Table 2's "Mamba2 + DPO
/ KTO" baselines), the six Table 2 tasks, the RL gains side by side and the three perplexity corpora
through ``python -m pipelines eval``, then firing rates, E_A/E_S and Figures 5–7 through
``python -m analysis``. Printed as shell commands; ``--run`` runs them in order (stopping at
the first failure) and needs CUDA and the hub. Not run here: this machine has neither.
"""
from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pipelines.config import format_overrides
from pipelines.demo.recipe import FULL_MODEL, STUDENTS

@dataclass(frozen=True)
class Step:
    title: str
    argv: list[str]


def paper_steps(size: str) -> list[Step]:
    """The commands in order, for the 130m or 1.3b teacher."""
    if size not in ("130m", "1.3b"):
        raise ValueError(f"paper size must be '130m' or '1.3b', got {size!r}")
    teacher = f"state-spaces/mamba2-{size}"
    root = f"runs/paper-{size}"
    launcher = "deepspeed_zero3" if size == "1.3b" else "multi_gpu"
    launch = ["accelerate", "launch", "--config_file", f"pipelines/accelerate/{launcher}.yaml", "-m", "pipelines"]
    steps = []
    for s in STUDENTS:
        steps.append(Step(f"distil {s.name} ({s.step}, SGC {'on' if s.sgc else 'off'})",
                          [*launch, "distill", "--config", f"pipelines/configs/paper_{size}.yaml",
                           *format_overrides(s.overrides),
                           f"output_dir={root}/{s.name}"]))
    policies = {FULL_MODEL.name: [f"policy={root}/{FULL_MODEL.name}/final"],
                "teacher": [f"policy={teacher}", "tokenizer=EleutherAI/gpt-neox-20b"]}  # the dense baseline
    aligned = {}  # aligned model -> the row it was aligned from
    for base, policy in policies.items():
        for loss in ("dpo", "kto"):
            aligned[f"{base}_{loss}"] = base
            steps.append(Step(f"{loss.upper()} (Eq {14 if loss == 'dpo' else 15}) on {base}",
                              [*launch, "rl", "--config", "pipelines/configs/rl_paper.yaml", f"loss={loss}",
                               *policy, f"output_dir={root}/{base}_{loss}"]))
    spiking_aligned = [m for m, base in aligned.items() if base != "teacher"]
    models = [*spiking_aligned, *(s.name for s in STUDENTS)]
    steps.append(Step("Table 2 / Table 4: six zero-shot tasks, the RL gains, WikiText-2 / C4 / PTB perplexity",
                      [sys.executable, "-m", "pipelines", "eval", "--teacher", f"teacher={teacher}",
                       *(a for s in STUDENTS for a in ("--student", f"{s.name}={root}/{s.name}/final")),
                       *(a for m, base in aligned.items() for a in ("--aligned", f"{m}={root}/{m}/final:{base}")),
                       "--tasks", "paper", "--ppl", "wikitext2", "c4", "ptb", "--device", "cuda",
                       "--dtype", "bfloat16", "--batch_size", "16", "--output", f"{root}/eval"]))
    text = f"{root}/wikitext2_test.txt"
    steps.append(Step("WikiText-2 test text (as the perplexity stage joins it) for the firing-rate measurements",
                      [sys.executable, "-m", "pipelines.demo.paper", "wikitext2-text", text]))
    for m in models:
        steps.append(Step(f"Figure 2 / Table 12: firing rates and E_A/E_S of {m}",
                          [sys.executable, "-m", "analysis", "energy", "--model", f"{root}/{m}/final", "--text", text,
                           "--max-tokens", "65536", "--seq-len", "2048", "--plot", f"{root}/figures/energy_{m}.png"]))
    steps.append(Step("Figures 5–7: final-block output histograms, teacher vs students",
                      [sys.executable, "-m", "analysis", "histograms", f"--model=teacher={teacher}",
                       *(f"--model={s.name}={root}/{s.name}/final" for s in STUDENTS),
                       "--text", text, "--tokenizer", "EleutherAI/gpt-neox-20b", "--out", f"{root}/figures"]))
    return steps


def render(step: Step) -> str:
    """A step as one shell line."""
    return shlex.join(["python" if a == sys.executable else a for a in step.argv])


def write_wikitext2_text(path: str) -> Path:
    """The WikiText-2 test split joined as ``pipelines.eval.perplexity`` joins it (needs the hub)."""
    from pipelines.atomic import atomic_write_text
    from pipelines.eval.perplexity import corpus_text

    atomic_write_text(path, corpus_text("wikitext2")[1])
    return Path(path)


def main(size: str = "1.3b", run: bool = False) -> int:
    steps = paper_steps(size)
    print(f"# SpikingMamba-{size}: the paper's recipe (Appendix C) on 8 GPUs; the demo's stages at full scale.\n"
          "# Needs CUDA GPUs and the Hugging Face hub (teacher, GenQA / InfinityInstruct / OpenHermes 2.5,\n"
          "# UltraFeedback, the lm-eval tasks). The authors report ~42 h for distilling 1.3B, ~1 h for RL.")
    for i, step in enumerate(steps, 1):
        print(f"\n# {i}. {step.title}\n{render(step)}")
    if not run:
        return 0
    import torch

    if not torch.cuda.is_available():
        print("\nerror: --run needs CUDA GPUs (torch.cuda.is_available() is False); run the commands above "
              "on a GPU machine", file=sys.stderr)
        return 2
    for i, step in enumerate(steps, 1):
        print(f"\n[{i}/{len(steps)}] {step.title}", flush=True)
        subprocess.run(step.argv, check=True)
    return 0


if __name__ == "__main__":  # python -m pipelines.demo.paper wikitext2-text PATH (a step of the recipe)
    if len(sys.argv) != 3 or sys.argv[1] != "wikitext2-text":
        sys.exit("usage: python -m pipelines.demo.paper wikitext2-text PATH")
    print(write_wikitext2_text(sys.argv[2]))
