"""Stages: distil each student and align the best one, through the project's own pipelines.

A student is ``python -m pipelines distill`` (``pipelines.distill.train.run``) with the demo's
teacher, data and budget; the alignment is ``python -m pipelines rl`` (``pipelines.rl.train.run``)
on the demo's preference set, keeping the student's trained SGC weights (``sgc_init``). The configs
built here are saved by those pipelines as ``config.yaml`` in each run directory, so every run can be
repeated by hand with ``python -m pipelines distill --config <run>/config.yaml``.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from pipelines.demo.prepare import DemoData
from pipelines.demo.recipe import DemoRecipe, Student


def calibrated_init(recipe: DemoRecipe, student: Student, teacher_dir: Path, data: DemoData, run_dir: Path) -> Path:
    """The student's starting point with V_th calibrated on the teacher (``calibrate.py``): the teacher's
    weights, the student's neurons and thresholds, saved to ``run_dir/init`` (no SGC, no tokenizer)."""
    import torch
    from transformers import AutoTokenizer

    from models import SpikingMambaForCausalLM
    from pipelines.demo.calibrate import calibrate_thresholds

    teacher = SpikingMambaForCausalLM.from_pretrained(str(teacher_dir))
    tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
    n, seq_len = recipe.distill.calibration_sequences, recipe.teacher.seq_len
    docs = [json.loads(line)["text"] for line in data.train.read_text().splitlines()[:200]]
    ids = tokenizer(tokenizer.eos_token.join(docs))["input_ids"][: n * seq_len]
    thresholds = calibrate_thresholds(teacher, torch.tensor(ids).view(-1, seq_len), student.neuron, student.D)
    init = SpikingMambaForCausalLM.from_pretrained(str(teacher_dir), neuron=student.neuron, D=student.D, sgc_layers=[],
                                                   v_threshold_in=thresholds["in"], v_threshold_out=thresholds["out"])
    init.save_pretrained(run_dir / "init")
    return run_dir / "init"


def distill_config(recipe: DemoRecipe, student: Student, teacher_dir: Path, data: DemoData, run_dir: Path,
                   data_cache_dir: str | None, student_init: Path | None = None):
    from models.configuration import default_sgc_layers
    from pipelines.distill.config import DistillConfig

    d = recipe.distill
    # explicit layers: loading a saved SpikingMamba keeps its saved (empty) sgc_layers when given None
    sgc_layers = default_sgc_layers(recipe.teacher.n_layer, student.neuron, student.neuron, student.D) if student.sgc else []
    return DistillConfig(
        teacher=str(teacher_dir), student_init=None if student_init is None else str(student_init),
        neuron=student.neuron, D=student.D, sgc_layers=sgc_layers,
        hidden_weight=d.hidden_weight, datasets=[str(data.train)], seq_len=recipe.teacher.seq_len,
        data_cache_dir=data_cache_dir, global_batch_size=d.global_batch_size,
        micro_batch_size=d.micro_batch_size, lr=d.lr, warmup_ratio=d.warmup_ratio, max_steps=d.max_steps,
        mixed_precision="no", cpu=True, seed=recipe.seed, output_dir=str(run_dir), save_every=d.max_steps,
        keep_last=1, log_every=d.log_every, tensorboard=False)


def distill_student(recipe: DemoRecipe, student: Student, teacher_dir: Path, data: DemoData, run_dir: Path,
                    data_cache_dir: str | None = None) -> Path:
    """Distil ``student`` into a fresh ``run_dir``; returns the inference checkpoint ``run_dir/final``."""
    from pipelines.distill.train import run

    shutil.rmtree(run_dir, ignore_errors=True)
    init = calibrated_init(recipe, student, teacher_dir, data, run_dir) if recipe.distill.calibrate_v_threshold else None
    return Path(run(distill_config(recipe, student, teacher_dir, data, run_dir, data_cache_dir, init))["final"])


def align_config(recipe: DemoRecipe, student: Student, distill_run: Path, data: DemoData, run_dir: Path,
                 data_cache_dir: str | None):
    from pipelines.rl.config import RLConfig

    a = recipe.align
    sgc_init = None
    if student.sgc:
        checkpoints = sorted((distill_run / "checkpoints").glob("step-*"))
        if not checkpoints:
            raise FileNotFoundError(f"{distill_run}/checkpoints holds no checkpoint to take the SGC weights from")
        sgc_init = str(checkpoints[-1])
    return RLConfig(
        loss=a.loss, policy=str(distill_run / "final"), sgc=student.sgc, sgc_init=sgc_init,
        hidden_weight=recipe.distill.hidden_weight, beta=a.beta, data=str(data.preference(a.loss)),
        max_length=a.max_length, data_cache_dir=data_cache_dir, global_batch_size=a.global_batch_size,
        micro_batch_size=a.micro_batch_size, lr=a.lr, max_steps=a.max_steps, mixed_precision="no", cpu=True,
        seed=recipe.seed, output_dir=str(run_dir), save_every=a.max_steps, keep_last=1, log_every=a.log_every,
        tensorboard=False)


def align_student(recipe: DemoRecipe, student: Student, distill_run: Path, data: DemoData, run_dir: Path,
                  data_cache_dir: str | None = None) -> Path:
    """DPO or KTO (``recipe.align.loss``) on ``student`` distilled in ``distill_run`` (its trained SGC
    branch kept when it has one); returns ``run_dir/final``."""
    from pipelines.rl.train import run

    shutil.rmtree(run_dir, ignore_errors=True)
    return Path(run(align_config(recipe, student, distill_run, data, run_dir, data_cache_dir))["final"])
