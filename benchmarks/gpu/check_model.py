"""Check "model": the Mamba2 block and the LM on CUDA with every kernel (mamba_ssm's Triton SSD scan,
state update and gated RMSNorm, causal_conv1d where carried, the CuPy neurons) against the
plain-PyTorch path on the same GPU (benchmarks/gpu/model_outputs.py run in both modes).

The teacher is a random Mamba2 (models.tiny.save_tiny_mamba2, both checkpoint formats, same weights)
of d_model 256, 4 blocks, d_state 64, headdim 32, 2 groups, chunk 64, on 2 × 200 tokens (several
chunks, the last one padded). Compared, as relative errors ‖kernels − torch‖ / ‖torch‖: the logits,
the first block's output, every parameter's gradient (the worst is reported), the scores of the
first decode step; and how many of the 16 greedy tokens agree (reported, not required: a random
tiny model has near-ties). Tolerances below are set before any GPU run (none has happened yet):
Triton's fp32 dot products use TF32, and a spiking student amplifies a last-bit difference into a
changed spike count wherever a membrane sits on a rounding boundary, so its bounds are looser.
"""

from __future__ import annotations

import os
import subprocess
import sys

import torch

from benchmarks.gpu.report import relative_error, run_check, status
from models.tiny import save_tiny_mamba2

SHAPE = dict(d_model=256, n_layer=4, vocab_size=1000, d_state=64, headdim=32, ngroups=2, chunk_size=64, seed=0)
BATCH, LENGTH = 2, 200
# (model, precision) -> (logits, block output and first-step scores; gradients): relative error bounds
TOLERANCE = {
    ("teacher", "float32"): (5e-3, 2e-2),
    ("teacher", "bf16"): (3e-2, 1e-1),
    ("tilif", "float32"): (5e-2, 2e-1),
    ("tilif", "bf16"): (1e-1, 3e-1),
}


def outputs(work, mode: str, triton_mode: str) -> dict:
    env = dict(os.environ)
    if mode == "torch":
        env["SPIKINGMAMBA_NEURON_BACKEND"] = "torch"
    switch = triton_mode if mode == "triton" else "torch"
    subprocess.run([sys.executable, "-m", "benchmarks.gpu.kernel_switch", switch, "benchmarks.gpu.model_outputs",
                    str(work), mode], check=True, env=env)
    return torch.load(work / f"outputs_{mode}.pt")


def agreeing(a: torch.Tensor, b: torch.Tensor) -> int:
    differ = (a != b).nonzero()
    return a.numel() if differ.numel() == 0 else int(differ[0])


def compare(key: str, kernels: dict, reference: dict) -> dict:
    _, model, precision = key.split("/")
    bound, grad_bound = TOLERANCE[(model, precision)]
    grads = {name: relative_error(kernels["grads"][name], g) for name, g in reference["grads"].items()}
    worst = max(grads, key=grads.get)
    found = {
        "logits": relative_error(kernels["logits"], reference["logits"]),
        "block0": relative_error(kernels["block0"], reference["block0"]),
        "first_decode_scores": relative_error(kernels["scores"][0], reference["scores"][0]),
        "worst_grad": grads[worst], "worst_grad_name": worst,
        "same_grad_names": sorted(kernels["grads"]) == sorted(reference["grads"]),
        "agreeing_tokens": agreeing(kernels["tokens"], reference["tokens"]),
        "bounds": {"outputs": bound, "grads": grad_bound},
    }
    found["ok"] = (max(found["logits"], found["block0"], found["first_decode_scores"]) <= bound
                   and found["worst_grad"] <= grad_bound and found["same_grad_names"])
    return found


def check(work) -> dict:
    for fmt in ("mamba_ssm", "transformers"):
        save_tiny_mamba2(work / "teachers" / fmt, fmt=fmt, **SHAPE)
    gen = torch.Generator().manual_seed(1)
    torch.save(torch.randint(0, SHAPE["vocab_size"], (BATCH, LENGTH), generator=gen), work / "ids.pt")
    triton_mode = os.environ.get("SPIKINGMAMBA_KERNEL_SWITCH", "triton")
    kernels, reference = outputs(work, "triton", triton_mode), outputs(work, "torch", triton_mode)
    from models.kernels import cuda_kernels  # what the kernel process found (this process: same switch)

    found = cuda_kernels(torch.zeros(1, device="cuda"))
    found = {} if found is None else {name: kernel is not None for name, kernel in vars(found).items()}
    triton_found = all(found.get(name) for name in ("chunk_scan", "state_update", "gated_rmsnorm"))
    comparisons = {key: compare(key, kernels[key], reference[key]) for key in reference}
    return {"status": status(all(c["ok"] for c in comparisons.values()) and triton_found),
            "kernel_switch": triton_mode,
            "kernels_found": found,
            "comparisons": comparisons}


if __name__ == "__main__":
    run_check(check)
