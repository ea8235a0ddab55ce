"""Check "speed": the 130m shape (benchmarks.shapes.FULL: mamba2-130m, batch 2 × 512 tokens; decode
of 256 tokens after a 64-token prompt) on one GPU, from one random transformers-format checkpoint
(benchmarks.checkpoints) that every side loads.

distill_step_over_teacher   one distillation step — teacher forward (no grad) + TI-LIF D = 4 student
                            (SGC on 3 blocks) forward, L = L_KL + L_hidden (Eq 12–13), backward —
                            ÷ one training step of the teacher alone (forward + CE + backward)
train_step_ratio(_nosgc)    the student's forward + backward ÷ the teacher's (benchmarks.train_step)
decode tokens/s             teacher, integer-mode student and transformers' Mamba2ForCausalLM on the
                            same weights (benchmarks.decode; batch 1, greedy)

Training runs under bf16 autocast (the paper's mixed precision), decoding in float32. Times are
medians of interleaved repetitions after warm-up (benchmarks.harness); Triton compilation and
autotuning fall in the warm-up. Under kernel switch "triton-one-config" the SSD kernels run one
untuned configuration each, so their share of the time is an upper bound.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import asdict

import torch

from benchmarks import decode, train_step
from benchmarks.checkpoints import load_spiking, load_transformers, save_reference
from benchmarks.gpu.report import run_check
from benchmarks.harness import interleaved_times, ratios
from benchmarks.shapes import FULL
from pipelines.distill.losses import DistillLoss

CUDA = torch.device("cuda")


def as_dicts(results) -> dict:
    return {r.name: {**asdict(r), "met": r.met} for r in results}


def distill_step(teacher, student, batch):
    def run():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            with torch.no_grad():
                teacher_logits = teacher(batch).logits
            out = student(batch)
            loss = DistillLoss.total(DistillLoss.kl_teacher_student(teacher_logits, out.logits, None, 1.0),
                                     out.loss_hidden.float(), 1.0)
        loss.backward()
        student.zero_grad(set_to_none=True)

    return run


def teacher_step(teacher, batch):
    step = train_step.train_step(teacher, batch)

    def run():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            step()

    return run


def training(directory) -> dict:
    teacher = load_spiking(directory, CUDA, neuron="none")
    student = load_spiking(directory, CUDA, neuron="tilif", D=FULL.D)  # SGC: first, middle, last
    plain = load_spiking(directory, CUDA, neuron="tilif", D=FULL.D, sgc_layers=[])
    batch = train_step.make_batch(FULL, CUDA)
    frozen = load_spiking(directory, CUDA, neuron="none").requires_grad_(False)
    for model in (teacher, student, plain):
        model.train()
    times = interleaved_times({"distill": distill_step(frozen, student, batch), "teacher": teacher_step(teacher, batch)},
                              FULL.train_reps, CUDA)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        figures = train_step.train_results(teacher, student, plain, FULL, CUDA)
    return {"distill_step_over_teacher": statistics.median(ratios(times["distill"], times["teacher"])),
            "distill_step_seconds": statistics.median(times["distill"]),
            "teacher_step_seconds": statistics.median(times["teacher"]),
            "sgc_layers": list(student.config.sgc_layers),
            **as_dicts(figures)}


def decoding(directory) -> dict:
    reference = load_transformers(directory, CUDA)
    none = load_spiking(directory, CUDA, neuron="none")
    tilif = load_spiking(directory, CUDA, neuron="tilif", D=FULL.D, sgc_layers=[])
    return as_dicts(decode.decode_results(reference, none, tilif, FULL, CUDA))


def check(work) -> dict:
    import transformers

    transformers.utils.logging.set_verbosity_error()
    directory = save_reference(FULL.model, work / "mamba2-130m-shape", FULL.seed)
    return {"status": "passed", "kernel_switch": os.environ.get("SPIKINGMAMBA_KERNEL_SWITCH"),
            "shape": FULL.model.describe(), "training_bf16_autocast": training(directory),
            "decode_float32": decoding(directory)}


if __name__ == "__main__":
    run_check(check)
