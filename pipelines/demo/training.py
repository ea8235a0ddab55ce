"""Stages: pretrain the teacher, distil each student and align the full model, through the project's pipelines.

Each stage is the pipeline's own config built by ``pipelines.config.load_config`` from the demo's run
settings (``RUN``), the recipe's overrides (``recipe.py``) and the paths of this run. The teacher is
``python -m pipelines distill`` with ``objective: ce`` (next-token CE from a random Mamba2, neuron
"none", Eq 16–21); a student is the same pipeline with the teacher, the student's neuron and the
demo's data; the alignment is ``python -m pipelines rl`` on the demo's preference set, keeping the
student's trained SGC weights (``sgc_init``); the dense teacher is aligned the same way (Table 2's
"Mamba2 + DPO" baseline). Every run saves its resolved ``config.yaml``, so it can
be repeated by hand with ``python -m pipelines distill --config <run>/config.yaml``.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from pipelines.config import load_config
from pipelines.demo.prepare import DemoData
from pipelines.demo.recipe import SCHEMAS, DemoRecipe, Student

RUN = {"mixed_precision": "no", "cpu": True, "tensorboard": False, "keep_last": 1}
"""The demo's run settings for every stage: fp32 on the CPU (bitwise reproducible), one checkpoint."""


def stage_config(recipe: DemoRecipe, stage: str, run_dir: Path, data_cache_dir: str | None, **settings):
    """``stage``'s config: its pipeline's defaults, ``RUN``, the recipe's overrides, then ``settings``;
    one checkpoint, at the end."""
    return load_config(SCHEMAS[stage], None, {
        **RUN, "save_every": recipe.setting(stage, "max_steps"), **getattr(recipe, stage),
        "output_dir": str(run_dir), "data_cache_dir": data_cache_dir, **settings})


def run_fresh(run, cfg) -> Path:
    """``run(cfg)`` (a pipeline's ``train.run``) in an emptied ``cfg.output_dir``; returns its ``final``."""
    shutil.rmtree(cfg.output_dir, ignore_errors=True)
    return Path(run(cfg)["final"])


def teacher_config(recipe: DemoRecipe, data: DemoData, run_dir: Path, data_cache_dir: str | None):
    """The teacher's pretraining: CE on the training split from a random Mamba2 sized for the tokenizer,
    the held-out curve on the held-out split."""
    shape = {**recipe.setting("teacher", "tiny_teacher"), "vocab_size": data.manifest["vocab"]}
    return stage_config(recipe, "teacher", run_dir, data_cache_dir, teacher=None, tiny_teacher=shape,
                        tokenizer=str(data.tokenizer), datasets=[str(data.train)],
                        eval_datasets=[str(data.heldout)], seq_len=recipe.seq_len)


def pretrain_teacher(cfg, threads: int = 1) -> Path:
    """Run the teacher's pretraining ``cfg`` into a fresh ``cfg.output_dir`` with ``threads`` torch threads;
    returns the teacher, ``output_dir/final``. The thread count is part of the result: MKL splits the
    vocabulary-long reduction of the LM head's backward (grad_logits [B·L, V] @ W [V, d]) across threads,
    so the weights are bitwise reproducible for a fixed count, not across counts."""
    import torch

    from pipelines.distill.train import run

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return run_fresh(run, cfg)
    finally:
        torch.set_num_threads(before)


def distill_config(recipe: DemoRecipe, student: Student, teacher_dir: Path, data: DemoData, run_dir: Path,
                   data_cache_dir: str | None):
    return stage_config(recipe, "distill", run_dir, data_cache_dir, teacher=str(teacher_dir),
                        datasets=[str(data.train)], seq_len=recipe.seq_len, **student.overrides)


def distill_student(recipe: DemoRecipe, student: Student, teacher_dir: Path, data: DemoData, run_dir: Path,
                    data_cache_dir: str | None = None) -> Path:
    """Distil ``student`` into a fresh ``run_dir``; returns the inference checkpoint ``run_dir/final``."""
    from pipelines.distill.train import run

    return run_fresh(run, distill_config(recipe, student, teacher_dir, data, run_dir, data_cache_dir))


def align_config(recipe: DemoRecipe, policy: Path, data: DemoData, run_dir: Path, data_cache_dir: str | None,
                 sgc_run: Path | None = None):
    """DPO or KTO (the align stage's ``loss``) of the model at ``policy``; ``sgc_run``: the distillation run
    whose trained SGC branch the policy keeps (its last checkpoint; None: no SGC, e.g. the dense teacher)."""
    sgc_init = None
    if sgc_run is not None:
        checkpoints = sorted((sgc_run / "checkpoints").glob("step-*"))
        if not checkpoints:
            raise FileNotFoundError(f"{sgc_run}/checkpoints holds no checkpoint to take the SGC weights from")
        sgc_init = str(checkpoints[-1])
    return stage_config(recipe, "align", run_dir, data_cache_dir, policy=str(policy), sgc=sgc_run is not None,
                        sgc_init=sgc_init, data=str(data.preference(recipe.setting("align", "loss"))))


def student_policy(student: Student, distill_run: Path) -> tuple[Path, Path | None]:
    """What aligning ``student`` distilled in ``distill_run`` starts from: its ``final/`` and, when it has
    SGC, the run holding its trained SGC branch."""
    return distill_run / "final", distill_run if student.sgc else None


def align(recipe: DemoRecipe, policy: Path, data: DemoData, run_dir: Path, data_cache_dir: str | None = None,
          sgc_run: Path | None = None) -> Path:
    """``align_config``'s run into a fresh ``run_dir``; returns ``run_dir/final``."""
    from pipelines.rl.train import run

    return run_fresh(run, align_config(recipe, policy, data, run_dir, data_cache_dir, sgc_run))
