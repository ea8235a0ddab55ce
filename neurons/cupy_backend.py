"""CuPy backend: compiles ``neurons/kernels/<kind>.cuh`` with NVRTC and launches the kernels on
torch's current CUDA stream — integer-mode forward and backward over T logical steps (Eq 1 with the
Eq 2 / 3 / 5 spike functions and their surrogates) and the micro-step expansion (Eq 7–8).

Inputs: float32, float16 or bfloat16 (computed in float32, the membrane kept in float32, exactly like
the torch backend). cupy is imported only when this backend is asked for.

backend="auto" (``usable``) takes these kernels for a CUDA tensor of those dtypes once they compiled
for its device — tried once per process and device, a failure warned once with its reason, the torch
backend used from then on — and the torch backend for every other tensor, decided per call.

Not run here: this machine has no GPU. What is tested without one: every kernel source compiles with
``nvcc --ptx``; the same sources, compiled for the host through tests/neurons/host_shim.cpp, agree
bit for bit with the torch backend (tests/neurons/test_neuron_kernels.py); the launch arguments are
checked (``check_launch``) before cupy is imported; auto selection runs through the ``on_cuda`` and
``compile_kernels`` seams. The CuPy launch itself runs only on a CUDA machine (tests marked ``gpu``,
``make gpu-check``).
"""

import threading
import warnings
from pathlib import Path

import numpy as np
import torch

from .functional import NAN_MESSAGE, check_exact_integers
from .kinds import KINDS, get_kind

KERNEL_DIR = Path(__file__).parent / "kernels"
# No fast-math, no FMA contraction: the kernels' roundings must be the torch backend's.
NVRTC_OPTIONS = ("--fmad=false", f"-I{KERNEL_DIR}")
DTYPE_SUFFIX = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}
SUFFIX_DTYPE = {suffix: dtype for dtype, suffix in DTYPE_SUFFIX.items()}
THREADS = 256

# Each kernel's arguments (common.cuh, NEURON_KERNELS_FOR): tensors as (name, dtype or None for the
# input's dtype, element count as a function of N, T, D, spike_driven), then numpy scalars in order.
_TN = lambda N, T, D, spike_driven: T * N  # noqa: E731
_N = lambda N, T, D, spike_driven: N  # noqa: E731
_OUT = lambda N, T, D, spike_driven: T * D * N if spike_driven else T * N  # noqa: E731
_ONE = lambda N, T, D, spike_driven: 1  # noqa: E731
SIGNATURES = {
    "forward": (
        (("x", None, _TN), ("v0", torch.float32, _N), ("out", None, _OUT), ("h_seq", torch.float32, _TN),
         ("v_seq", torch.float32, _TN), ("nan_flag", torch.int32, _ONE)),
        (("N", np.int64), ("T", np.int32), ("beta", np.float32), ("v_threshold", np.float32), ("D", np.int32),
         ("spike_driven", np.int32)),
    ),
    "backward": (
        (("grad_out", None, _TN), ("grad_v_seq", torch.float32, _TN), ("h_seq", torch.float32, _TN),
         ("grad_x", None, _TN), ("grad_v0", torch.float32, _N)),
        (("N", np.int64), ("T", np.int32), ("beta", np.float32), ("v_threshold", np.float32), ("alpha", np.float32),
         ("D", np.int32), ("detach_reset", np.int32)),
    ),
}  # fmt: skip


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
            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda}). Use backend='torch' or 'auto' on "
            f"this machine; on a CUDA machine {install_hint()}."
        )
    try:
        import cupy
    except ImportError as error:
        raise ImportError(f"backend='cupy' needs CuPy, which is not installed: {install_hint()}.") from error
    return cupy


def on_cuda(tensor: torch.Tensor) -> bool:
    """The device test auto selection hinges on (a seam for CPU tests of the cupy path)."""
    return tensor.is_cuda


_compiled: dict = {}  # device index -> {kernel name: cupy function}
_ready: dict = {}  # device index -> whether auto may use the kernels there
_lock = threading.RLock()


def compile_kernels(device_index: int) -> dict:
    """Every kernel of the three neurons compiled (NVRTC) and loaded on one device, once per process."""
    with _lock:
        if device_index not in _compiled:
            cupy = require_cupy()
            functions = {}
            with cupy.cuda.Device(device_index):
                for kind in KINDS:
                    module = cupy.RawModule(code=(KERNEL_DIR / f"{kind}.cuh").read_text(), options=NVRTC_OPTIONS,
                                            backend="nvrtc")
                    for name in (f"{kind}_{d}_{s}" for d in SIGNATURES for s in SUFFIX_DTYPE):
                        functions[name] = module.get_function(name)  # compiles and loads now
            _compiled[device_index] = functions
        return _compiled[device_index]


def _device_index(device: torch.device):
    return torch.cuda.current_device() if device.type == "cuda" and device.index is None else device.index


def usable(x: torch.Tensor) -> bool:
    """backend='auto': whether ``x`` takes the kernels — a CUDA tensor of a supported dtype whose
    device compiled them. The first failure on a device is warned once, naming its reason."""
    if not on_cuda(x) or x.dtype not in DTYPE_SUFFIX:
        return False
    index = _device_index(x.device)
    if index not in _ready:
        with _lock:
            if index not in _ready:
                try:
                    compile_kernels(index)
                    _ready[index] = True
                except Exception as error:  # noqa: BLE001  (any failure falls back, with its reason)
                    _ready[index] = False
                    warnings.warn(
                        f"neuron backend 'auto': the CuPy kernels are unavailable on {x.device} "
                        f"({type(error).__name__}: {error}); using the torch backend there",
                        RuntimeWarning,
                        stacklevel=3,
                    )
    return _ready[index]


def clear_cache() -> None:
    """Forget compiled kernels and auto decisions (tests swap the seams)."""
    with _lock:
        _compiled.clear()
        _ready.clear()


def check_launch(kind: str, name: str, device: torch.device, N: int, *args) -> None:
    """Raise ValueError unless ``args`` are what kernel ``<kind>_<name>`` reads and writes: tensors on
    ``device``, contiguous, of the kernel's dtypes and sizes; numpy scalars of its C types; D exact
    in the storage dtype (and 1 for the binary LIF); T >= 1. A bad pointer would be a silent
    out-of-bounds access on the GPU, so nothing reaches a kernel unchecked."""
    where = f"kernel {kind}_{name}"
    direction, _, suffix = name.partition("_")
    if kind not in KINDS or direction not in SIGNATURES or suffix not in SUFFIX_DTYPE:
        raise ValueError(f"{where}: no such kernel (kinds {tuple(KINDS)}, names forward_/backward_ + f32/f16/bf16)")
    tensors, scalars = SIGNATURES[direction]
    if len(args) != len(tensors) + len(scalars):
        raise ValueError(f"{where} takes {len(tensors) + len(scalars)} arguments, got {len(args)}")
    values = dict(zip([n for n, _ in scalars], args[len(tensors):]))
    for (arg, ctype), value in zip(scalars, args[len(tensors):]):
        if type(value) is not ctype:
            raise ValueError(f"{where}: {arg} must be a numpy {ctype.__name__}, got {type(value).__name__}")
    dtype = SUFFIX_DTYPE[suffix]
    sizes = (int(values["N"]), int(values["T"]), int(values["D"]), bool(values.get("spike_driven", 0)))
    if sizes[0] != N or N < 0 or sizes[1] < 1:
        raise ValueError(f"{where}: needs N = {N} >= 0 elements and T >= 1 steps, got N={sizes[0]}, T={sizes[1]}")
    check_exact_integers(dtype, sizes[2])
    if sizes[2] != get_kind(kind).D(sizes[2]):
        raise ValueError(f"{where}: the {kind} neuron emits at most {get_kind(kind).D(sizes[2])}, got D={sizes[2]}")
    for (arg, expected, elements), tensor in zip(tensors, args):
        expected = expected or dtype
        if not isinstance(tensor, torch.Tensor):
            raise ValueError(f"{where}: {arg} must be a tensor, got {type(tensor).__name__}")
        if tensor.device != device:
            raise ValueError(f"{where}: {arg} is on {tensor.device}, the kernel runs on {device}")
        if tensor.dtype != expected:
            raise ValueError(f"{where}: {arg} must be {expected}, got {tensor.dtype}")
        if not tensor.is_contiguous():
            raise ValueError(f"{where}: {arg} must be contiguous (the kernel indexes it flat)")
        if tensor.numel() != elements(*sizes):
            raise ValueError(f"{where}: {arg} must have {elements(*sizes)} elements, got {tensor.numel()}")


def launch_cuda(kind: str, name: str, device: torch.device, N: int, *args) -> None:
    """Launch kernel ``<kind>_<name>`` over N neuron elements on torch's current stream.

    args: the kernel's arguments — torch tensors (passed as device pointers) and numpy scalars —
    checked by ``check_launch`` before cupy is imported.
    """
    if device.type != "cuda":
        raise ValueError(
            f"backend='cupy' runs on CUDA tensors, got a tensor on {device}; use backend='torch' or 'auto'"
        )
    check_launch(kind, name, device, N, *args)
    cupy = require_cupy()
    kernel = compile_kernels(_device_index(device))[f"{kind}_{name}"]
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
