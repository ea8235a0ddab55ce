"""Figure 1: what the neurons (and the SGC branches) add to one training step.

train_step_ratio         forward + backward of the TI-LIF (D=4) student with SGC on 3 layers
                         / the same for the neuron-free teacher
train_step_ratio_nosgc   the same student without SGC / the teacher

The students' loss is CE + L_hidden (Eq 10-11; L_hidden is 0 without SGC), the teacher's CE, all on
the same random batch. Gradients are accumulated and then dropped (set to None), as an optimiser's
zero_grad would, so only one model's gradients are alive at a time.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import torch

from benchmarks.harness import interleaved_times, ratios
from benchmarks.results import Result
from benchmarks.shapes import BenchShapes


def train_step(model, input_ids: torch.Tensor) -> Callable[[], None]:
    """One forward + backward of `model` (train mode) on `input_ids` [B, L], labels = inputs."""

    def run() -> None:
        out = model(input_ids, labels=input_ids)
        (out.loss + out.loss_hidden).backward()
        model.zero_grad(set_to_none=True)

    return run


def make_batch(shapes: BenchShapes, device: torch.device) -> torch.Tensor:
    """A fixed random batch [train_batch, train_len]."""
    gen = torch.Generator().manual_seed(shapes.seed)
    ids = torch.randint(0, shapes.model.vocab_size, (shapes.train_batch, shapes.train_len), generator=gen)
    return ids.to(device)


def train_results(teacher, student_sgc, student_nosgc, shapes: BenchShapes, device) -> list[Result]:
    """Both figures from one loop timing teacher, SGC student and plain student back to back."""
    batch = make_batch(shapes, device)
    models = {"teacher": teacher, "sgc": student_sgc, "nosgc": student_nosgc}
    for model in models.values():
        model.train()
    t = interleaved_times({name: train_step(m, batch) for name, m in models.items()}, shapes.train_reps, device)
    seconds = {name: statistics.median(times) for name, times in t.items()}
    workload = (f"{shapes.model.describe()}; batch {shapes.train_batch} x {shapes.train_len} tokens, "
                "forward + backward")
    student = f"TI-LIF D={shapes.D} student"
    return [
        Result.from_samples(
            "train_step_ratio", ratios(t["sgc"], t["teacher"]), "<= 1.25",
            f"{student} with SGC on layers {list(student_sgc.config.sgc_layers)} / teacher; {workload}",
            seconds=seconds),
        Result.from_samples(
            "train_step_ratio_nosgc", ratios(t["nosgc"], t["teacher"]), "<= 1.05",
            f"{student} without SGC / teacher; {workload}", seconds=seconds),
    ]
