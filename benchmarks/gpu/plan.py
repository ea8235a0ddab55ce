"""The checks of ``make gpu-check``, in the order they run, each with its time budget.

The correctness checks run at once (one H200 has room for all; 16 cores compile their Triton kernels
side by side), then "speed" alone, so nothing else shares the GPU while it is timed. Budgets are
sized, before any GPU run, to finish everything within 6 minutes: about 30 s of installation,
150 s for the concurrent phase, 120 s for "speed".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    name: str
    module: str
    budget_s: int
    what: str
    args: tuple[str, ...] = ()
    alone: bool = False  # runs after the others, by itself (timings)


CHECKS = (
    Check("neurons", "benchmarks.gpu.check_neurons", 90,
          "CuPy kernels of LIF / I-LIF / TI-LIF vs the torch backend, bit for bit: fp32 / bf16 / fp16, T = 1 and 3, "
          "integer mode fwd + bwd, micro-step expansion, 2^25 elements; backend 'auto' on CUDA takes the kernels"),
    Check("model", "benchmarks.gpu.check_model", 150,
          "block and LM with mamba_ssm / causal_conv1d / CuPy kernels vs the torch path on the same GPU: logits, "
          "block output, gradients, prefill + decode; teacher and TI-LIF student; fp32 and bf16; both checkpoint "
          "formats"),
    Check("distill_fsdp", "benchmarks.gpu.check_distill", 150,
          "2 distillation steps via accelerate launch with pipelines/accelerate/fsdp.yaml on 1 GPU; the export "
          "loads and generates", ("--engine", "fsdp")),
    Check("distill_zero3", "benchmarks.gpu.check_distill", 150,
          "the same with pipelines/accelerate/deepspeed_zero3.yaml (skipped without deepspeed)", ("--engine", "zero3")),
    Check("pytest_gpu", "benchmarks.gpu.check_pytest", 150, "pytest -m gpu: every test that skips without CUDA"),
    Check("speed", "benchmarks.gpu.check_speed", 120,
          "130m shape: distillation step (bf16 autocast, SGC on 3 blocks) ÷ teacher step; decode tokens/s of the "
          "teacher, the integer-mode student and transformers' Mamba2 on the same weights", alone=True),
)


def select(names: list[str] | None) -> tuple[Check, ...]:
    if not names:
        return CHECKS
    unknown = sorted(set(names) - {c.name for c in CHECKS})
    if unknown:
        raise ValueError(f"unknown checks {unknown}; choose from {[c.name for c in CHECKS]}")
    return tuple(c for c in CHECKS if c.name in names)
