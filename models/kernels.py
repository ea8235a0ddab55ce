"""Kernels for the Mamba2 block, chosen per call: optional CUDA kernels from mamba_ssm / causal_conv1d,
and this project's compiled CPU step for decoding (`cpu_step`).

`cuda_kernels(tensor)` returns the kernels to use for *this* tensor: ``None`` unless the tensor is on
a CUDA device, so a CPU run never touches them even when mamba_ssm happens to be importable (the
failure mode of transformers' Mamba2, which picks kernels at import time). Each kernel is optional on
its own: a missing package leaves that attribute ``None`` and the block uses its plain-PyTorch form
(install them with ``pip install mamba-ssm causal-conv1d`` on a CUDA machine; see environment.yml).

Never used here: mamba_ssm's `mamba_split_conv1d_scan_combined(..., outproj_weight=...)`, which fuses
out_proj into the scan and would skip the neuron that must sit before out_proj (§4.1).

NOT RUN HERE: this machine has no GPU, so the real CUDA kernels were never executed by this project's
tests. The selection logic and the argument plumbing are tested on CPU with fake kernel modules
(transformers' own torch fallbacks of the same functions) injected in place of the real packages.

`cpu_step(zxbcdt, conv_state, ssm_state)` returns models/csrc/mamba2_step.cpp's one-token step for
float32 CPU decoding (built on first use like the event kernels, `neurons.event_build`), else ``None``.
"""

from __future__ import annotations

import functools
import importlib
import warnings
from pathlib import Path
from types import SimpleNamespace

import torch

from neurons.event import ops_observed
from neurons.event_build import load_cpu_extension

# attribute -> (module, function) in the published packages
_KERNELS = {
    "chunk_scan": ("mamba_ssm.ops.triton.ssd_combined", "mamba_chunk_scan_combined"),
    "state_update": ("mamba_ssm.ops.triton.selective_state_update", "selective_state_update"),
    "gated_rmsnorm": ("mamba_ssm.ops.triton.layernorm_gated", "rmsnorm_fn"),
    "conv": ("causal_conv1d", "causal_conv1d_fn"),
    "conv_update": ("causal_conv1d", "causal_conv1d_update"),
}


def on_cuda(tensor: torch.Tensor) -> bool:
    """The device test the selection hinges on (a seam for CPU tests of the kernel path)."""
    return tensor.is_cuda


@functools.cache
def _import_kernels() -> SimpleNamespace:
    found = {}
    for attr, (module, name) in _KERNELS.items():
        try:
            found[attr] = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            found[attr] = None
    return SimpleNamespace(**found)


def cuda_kernels(tensor: torch.Tensor) -> SimpleNamespace | None:
    """Kernels usable for ``tensor``: None on CPU (or when no kernel package imports), else a
    namespace whose attributes (chunk_scan, state_update, gated_rmsnorm, conv, conv_update) are the
    kernel functions or None where the package is missing."""
    if not on_cuda(tensor):
        return None
    kernels = _import_kernels()
    return kernels if any(vars(kernels).values()) else None


def clear_cache() -> None:
    """Forget the imported kernels (tests swap the modules in sys.modules)."""
    _import_kernels.cache_clear()


# ---- the compiled CPU decode step --------------------------------------------------------------
STEP_SOURCE = Path(__file__).parent / "csrc" / "mamba2_step.cpp"


class StepKernelWarning(UserWarning):
    """The compiled CPU decode step could not be built or loaded: the block decodes with its torch step."""


@functools.cache
def _step_module():
    """models/csrc/mamba2_step.cpp built for this CPU (once per machine, like neurons.event_build), or
    None after one StepKernelWarning when it cannot be built (no compiler or ninja, a failed build)."""
    try:
        return load_cpu_extension("spikingmamba_mamba2_step", STEP_SOURCE, torch.backends.cpu.get_cpu_capability())
    except Exception as error:
        warnings.warn(f"models.kernels: the compiled CPU decode step could not be built ({type(error).__name__}: "
                      f"...{str(error).strip()[-400:]}); decoding uses the slower torch step. The build needs a C++ "
                      "compiler (g++) and ninja on PATH.", StepKernelWarning, stacklevel=3)
        return None


def cpu_step(zxbcdt: torch.Tensor, conv_state: torch.Tensor, ssm_state: torch.Tensor):
    """The compiled one-token mixer step (`mixer_step` of models/csrc/mamba2_step.cpp: conv, Δ, SSM state
    update and read-out, gate and norm in one pass) where it applies to these tensors: float32 on a CPU,
    contiguous, outside autograd (decoding under no_grad / inference_mode), no op counter watching
    (`neurons.event.ops_observed`) — else None, and the block takes its torch step (or the CUDA kernels).
    It equals the torch step up to float summation order."""
    if (torch.is_grad_enabled() or zxbcdt.dtype != torch.float32 or conv_state.dtype != torch.float32
            or on_cuda(zxbcdt) or not (zxbcdt.is_cpu and conv_state.is_contiguous() and ssm_state.is_contiguous())
            or ops_observed()):
        return None
    module = _step_module()
    return None if module is None else module.mixer_step
