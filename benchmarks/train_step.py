"""Figure 1: what the neurons (and the SGC branches) add to one training step.

train_step_ratio         forward + backward of the TI-LIF (D=4) student with SGC on 3 layers
                         / the same for the neuron-free teacher
train_step_ratio_nosgc   the same student without SGC / the teacher

The student's loss is CE + L_hidden (Eq 10-11), the teacher's CE, both on the same random batch;
gradients are dropped (set to None) before each step, as an optimiser's zero_grad would.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import torch

from benchmarks.harness import interleaved_ratio
from benchmarks.results import Result
from benchmarks.shapes import BenchShapes


def train_step(model, input_ids: torch.Tensor) -> Callable[[], None]:
    """One forward + backward of `model` (train mode) on `input_ids` [B, L], labels = inputs."""

    def run() -> None:
        model.zero_grad(set_to_none=True)
        out = model(input_ids, labels=input_ids)
        (out.loss + out.loss_hidden).backward()

    return run


def make_batch(shapes: BenchShapes, device: torch.device) -> torch.Tensor:
    gen = torch.Generator().manual_seed(shapes.seed)
    ids = torch.randint(0, shapes.model.vocab_size, (shapes.train_batch, shapes.train_len), generator=gen)
    return ids.to(device)


def step_ratio(name: str, target: str, student, teacher, shapes: BenchShapes, device, what: str) -> Result:
    """Interleaved forward+backward time of `student` / `teacher` on one random batch."""
    batch = make_batch(shapes, device)
    student.train(), teacher.train()
    ratio = interleaved_ratio(train_step(student, batch), train_step(teacher, batch), shapes.train_reps, device)
    student.zero_grad(set_to_none=True), teacher.zero_grad(set_to_none=True)
    return Result.from_samples(
        name,
        ratio.values,
        target,
        f"{shapes.model.describe()}; {what} vs neuron-free teacher; batch "
        f"{shapes.train_batch} x {shapes.train_len} tokens, forward + backward",
        student_seconds=statistics.median(ratio.times_a),
        teacher_seconds=statistics.median(ratio.times_b),
    )
