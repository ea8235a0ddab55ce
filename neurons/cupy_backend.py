"""CuPy backend: compiles ``neurons/kernels/<kind>.cuh`` with NVRTC and launches the kernels on
torch's current CUDA stream — integer-mode forward and backward over T logical steps (Eq 1 with the
Eq 2 / 3 / 5 spike functions and their surrogates) and the micro-step expansion (Eq 7–8).

Inputs: float32, float16 or bfloat16 (computed in float32, the membrane kept in float32, exactly like
the torch backend). cupy is imported only when this backend is asked for.

Not run here: this machine has no GPU. What is tested without one: every kernel source compiles with
``nvcc --ptx`` and the same sources, compiled for the host through tests/neurons/host_shim.cpp, agree
bit for bit with the torch backend (tests/neurons/test_neuron_kernels.py). The launch code below runs only
on a CUDA machine (tests marked ``gpu``).
"""

import functools
from pathlib import Path

import numpy as np
import torch

from .functional import NAN_MESSAGE, check_exact_integers

KERNEL_DIR = Path(__file__).parent / "kernels"
# No fast-math, no FMA contraction: the kernels' roundings must be the torch backend's.
NVRTC_OPTIONS = ("--fmad=false", f"-I{KERNEL_DIR}")
DTYPE_SUFFIX = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}
THREADS = 256


def install_hint() -> str:
    cuda = torch.version.cuda
    if cuda is None:
        return (
            "install a CUDA build of PyTorch, then the CuPy wheel matching its CUDA major version: "
            "`pip install cupy-cuda12x` (CUDA 12) or `pip install cupy-cuda13x` (CUDA 13)"
        )
    return f"`pip install cupy-cuda{cuda.split('.')[0]}x` (matches torch.version.cuda = {cuda})"


def require_cupy():
    """Import cupy, or explain why backend='cupy' cannot run and how to fix it."""
    if not torch.cuda.is_available():
        raise RuntimeError(
            "backend='cupy' runs CUDA kernels, but torch.cuda.is_available() is False "
            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda}). Use backend='torch' on "
            f"this machine; on a CUDA machine {install_hint()}."
        )
    try:
        import cupy
    except ImportError as error:
        raise ImportError(f"backend='cupy' needs CuPy, which is not installed: {install_hint()}.") from error
    return cupy


@functools.lru_cache(maxsize=None)
def _module(kind: str, device_index: int):
    cupy = require_cupy()
    with cupy.cuda.Device(device_index):
        return cupy.RawModule(code=(KERNEL_DIR / f"{kind}.cuh").read_text(), options=NVRTC_OPTIONS, backend="nvrtc")


def launch_cuda(kind: str, name: str, device: torch.device, N: int, *args) -> None:
    """Launch kernel ``<kind>_<name>`` over N neuron elements on torch's current stream.

    args: the kernel's arguments — torch tensors (passed as device pointers) and numpy scalars.
    """
    if device.type != "cuda":
        raise ValueError(f"backend='cupy' runs on CUDA tensors, got a tensor on {device}; use backend='torch'")
    cupy = require_cupy()
    kernel = _module(kind, device.index).get_function(f"{kind}_{name}")
    args = tuple(np.uint64(a.data_ptr()) if isinstance(a, torch.Tensor) else a for a in args)
    blocks = max(1, min((N + THREADS - 1) // THREADS, 65535))
    with cupy.cuda.Device(device.index), cupy.cuda.ExternalStream(torch.cuda.current_stream(device).cuda_stream):
        kernel((blocks,), (THREADS,), args)


class _NeuronSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_seq, v0, kind, D, beta, v_threshold, alpha, detach_reset, spike_driven, launch):
        x = x_seq.contiguous()
        T, N = x.shape[0], x[0].numel()
        suffix = DTYPE_SUFFIX[x.dtype]
        out = x.new_empty((T * D, *x.shape[1:]) if spike_driven else x.shape)
        h_seq = torch.empty(x.shape, dtype=torch.float32, device=x.device)
        v_seq = torch.empty_like(h_seq)
        nan_flag = torch.zeros(1, dtype=torch.int32, device=x.device)
        launch(
            kind, f"forward_{suffix}", x.device, N,
            x, v0.contiguous(), out, h_seq, v_seq, nan_flag,
            np.int64(N), np.int32(T), np.float32(beta), np.float32(v_threshold), np.int32(D), np.int32(spike_driven),
        )  # fmt: skip
        if nan_flag.item():
            raise ValueError(NAN_MESSAGE)
        ctx.save_for_backward(h_seq)
        ctx.params = (kind, D, beta, v_threshold, alpha, detach_reset, suffix)
        ctx.dtype, ctx.launch = x.dtype, launch
        if spike_driven:
            ctx.mark_non_differentiable(out)
        return out, v_seq

    @staticmethod
    def backward(ctx, grad_out, grad_v_seq):
        (h_seq,) = ctx.saved_tensors
        kind, D, beta, v_threshold, alpha, detach_reset, suffix = ctx.params
        launch = ctx.launch
        T, N = h_seq.shape[0], h_seq[0].numel()
        if grad_out is None:
            grad_out = torch.zeros(h_seq.shape, dtype=ctx.dtype, device=h_seq.device)
        grad_out = grad_out.contiguous()
        grad_v_seq = torch.zeros_like(h_seq) if grad_v_seq is None else grad_v_seq.contiguous().float()
        grad_x = torch.empty_like(grad_out)
        grad_v0 = torch.empty_like(h_seq[0])
        launch(
            kind, f"backward_{suffix}", h_seq.device, N,
            grad_out, grad_v_seq, h_seq, grad_x, grad_v0,
            np.int64(N), np.int32(T), np.float32(beta), np.float32(v_threshold), np.float32(alpha), np.int32(D),
            np.int32(detach_reset),
        )  # fmt: skip
        return grad_x, grad_v0, None, None, None, None, None, None, None, None


def neuron_sequence(x_seq, v, kind, D, beta, v_threshold, alpha, detach_reset, spike_driven, launch=None):
    """The kernels' version of looping ``functional.neuron_step`` over T.

    x_seq [T, N, *] (float32/float16/bfloat16), v [N, *] → (out [T, N, *] or signed spikes
    [T·D, N, *] in x's dtype, v_seq [T, N, *] float32). ``launch`` runs one kernel (default: CUDA via
    CuPy; the tests pass a launcher for the host-compiled kernels).
    """
    if x_seq.dtype not in DTYPE_SUFFIX:
        raise ValueError(
            f"backend='cupy' supports float32, float16 and bfloat16 inputs, got {x_seq.dtype}; "
            "use backend='torch' for other dtypes"
        )
    check_exact_integers(x_seq.dtype, D)
    v = v.to(device=x_seq.device, dtype=torch.float32)
    args = (x_seq, v, kind, D, beta, v_threshold, alpha, detach_reset, spike_driven, launch or launch_cuda)
    if spike_driven:  # inference only: no graph
        with torch.no_grad():
            return _NeuronSequence.apply(*args)
    return _NeuronSequence.apply(*args)
