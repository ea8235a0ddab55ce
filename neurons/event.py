"""Event-driven spiking projections on a CPU: only the weight columns of the non-zero inputs are read.

    event_linear(q, W, b)             y = Σ_{j: q_j≠0} q_j · W[:, j] + b                 integer form, Eq 4
    event_linear_spikes(s, W, b)      y = Σ_{i, j: s[i]_j≠0} s[i]_j · W[:, j] + b          spike form, Eq 9
                                        = one signed add of a weight column per spike event
    event_spike_project(x, W, b, kind, D, V_th)
                                      the neuron at a fresh membrane (one logical step, h = x / V_th, the
                                      count q of Eq 2 / 3 / 5) and then the integer or spike form, one
                                      call: (V_th · Σ_j q_j W[:, j] + b, q) = models.mamba2.spike_project
                                      with T = 1
    event_is_faster(in, out, active_fraction, rows)     the measured rule "event beats dense F.linear",
                                                        from EVENT_CROSSOVER (at the end of this file)

For inference on a CPU with one or a few rows (decode, small batches): call them under
``torch.inference_mode()`` / ``torch.no_grad()`` (no autograd; CUDA keeps the dense path). W is
[out, in] in any layout; column-major (the eval-mode CPU decode layout, ``set_decode_layout``) is the
fast one, where W[:, j] is contiguous. The result is [*, out] in the weight's dtype and equals the
dense W·q + b up to float summation order, elementwise relative to Σ_j |q_j W_ij| + |b_i|: fp32
≤ 1e-5; bf16 ≤ 2^-7 and fp16 ≤ 2^-9 (4 roundings to the dtype: the pure-torch forms sum in float32
inside embedding_bag, then round, subtract, scale, add the bias; tests/neurons/event_cases.py).
``counter``, an int64 scalar tensor (e.g. ``SpikeDrivenLinear._ac_count``), gains Σ|q| ·
out_features: the accumulations of Eq 9, one per (spike event, output feature).

Float32 weights take the C++ kernels of neurons/csrc/event_linear.cpp (built on first use,
neurons.event_build); other weight dtypes, and every call where the kernels cannot be built (one
EventKernelWarning), take the pure-torch forms of neurons.event_torch.
"""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import is_in_torch_dispatch_mode

from . import event_torch
from . import functional as nf
from .event_build import kernels

KIND_CODES = {"lif": 0, "ilif": 1, "tilif": 2}  # the C++ kernel's neuron argument; other kinds: the torch forms
SPIKE_VALUES_MESSAGE = "spikes must hold signed micro-step spikes in {-1, 0, 1}"


def ops_observed() -> bool:
    """Whether a TorchDispatchMode is active — an op counter (SpikingJelly's ``op_counter``, torch's
    ``FlopCounterMode``) or fake tensors: compiled kernels would bypass it, so callers run torch ops then."""
    return is_in_torch_dispatch_mode()


def event_backend() -> str:
    """The backend of float32 weights: "cpp" when the C++ kernels are built, else "torch"."""
    return "cpp" if kernels() is not None else "torch"


def _check(weight: torch.Tensor, bias, counter, inputs: torch.Tensor, in_dim: int) -> None:
    """Shapes, devices, no autograd (a handful of attribute reads: this runs at every decoded token)."""
    if weight.ndim != 2 or inputs.ndim < in_dim or inputs.shape[-1] != weight.shape[1]:
        raise ValueError(f"input {tuple(inputs.shape)} does not match weight [out, in] {tuple(weight.shape)}")
    if not (weight.is_cpu and inputs.is_cpu):
        raise ValueError("the event path runs on CPU tensors only (CUDA keeps the dense path)")
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != weight.shape[0]):
        raise ValueError(f"bias must be [out] = [{weight.shape[0]}], got {tuple(bias.shape)}")
    if torch.is_grad_enabled() and (weight.requires_grad or inputs.requires_grad
                                    or (bias is not None and bias.requires_grad)):
        raise RuntimeError("the event path has no autograd: call it under torch.inference_mode() or torch.no_grad()")
    if counter is not None and (counter.dtype != torch.int64 or counter.ndim != 0):
        raise ValueError("counter must be an int64 scalar tensor")


def _cpp(weight: torch.Tensor):
    """The C++ kernels when they apply to this weight (float32), else None."""
    return kernels() if weight.dtype == torch.float32 else None


def _rows(t: torch.Tensor, dims: int, dtype=None) -> torch.Tensor:
    """t as a contiguous [rows, in] (dims = 2) or [D, rows, in] (dims = 3) tensor, in dtype if given."""
    if t.ndim != dims:
        t = t.reshape(*t.shape[: dims - 2], -1, t.shape[-1])
    if dtype is not None and t.dtype != dtype:
        t = t.to(dtype)
    return t if t.is_contiguous() else t.contiguous()


def _unrows(y: torch.Tensor, lead: torch.Size) -> torch.Tensor:
    return y if len(lead) == 1 else y.view(*lead, y.shape[-1])


def _bias(bias):
    return bias if bias is None or bias.is_contiguous() else bias.contiguous()


def _finish(y: torch.Tensor, events: torch.Tensor, weight, bias, scale: float, counter) -> torch.Tensor:
    """Pure-torch epilogue: scale · y + b, and the accumulate counter."""
    if counter is not None:
        counter += events * weight.shape[0]
    if scale != 1.0:
        y = y * scale
    return y if bias is None else y + bias


def event_linear(q: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *,
                 counter: torch.Tensor | None = None) -> torch.Tensor:
    """Integer form (Eq 4): q [*, in] (integer counts, any float dtype) -> [*, out] in weight's dtype."""
    _check(weight, bias, counter, q, 1)
    k = _cpp(weight)
    if k is not None:
        y = k.linear_counts(_rows(q, 2, torch.float32), weight, _bias(bias), counter)
    else:
        y, events = event_torch.counts_linear(_rows(q, 2), weight)
        y = _finish(y, events, weight, bias, 1.0, counter)
    return _unrows(y, q.shape[:-1])


def event_linear_spikes(spikes: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *,
                        counter: torch.Tensor | None = None) -> torch.Tensor:
    """Spike form (Eq 9): spikes [D, *, in] ∈ {−1,0,1} (a node's spike-driven output) -> [*, out].

    Only additions and subtractions of weight columns, one per spike event; the bias once. Equals
    ``event_linear(spikes.sum(0), ...)`` up to float summation order. Raises ValueError for an entry
    outside {−1, 0, 1}."""
    _check(weight, bias, counter, spikes, 2)
    k = _cpp(weight)
    if k is not None:
        y, invalid = k.linear_spikes(_rows(spikes, 3, torch.float32), weight, _bias(bias), counter)
        if invalid:
            raise ValueError(SPIKE_VALUES_MESSAGE)
    else:
        planes = _rows(spikes, 3)
        if ((planes != 0) & (planes.abs() != 1)).any():
            raise ValueError(SPIKE_VALUES_MESSAGE)
        y, events = event_torch.spikes_linear(planes, weight)
        y = _finish(y, events, weight, bias, 1.0, counter)
    return _unrows(y, spikes.shape[1:-1])


def event_spike_project(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, kind: str, D: int,
                        v_threshold: float, *, spike_driven: bool = False,
                        counter: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Neuron + projection in one call (§4.1, Eq 4 / Eq 9), for a fresh membrane and T = 1.

    x [*, in]: the neuron's input current (float32 / bf16 / fp16). q = the neuron's integer output,
    bit for bit ``functional.neuron_step(x, None, kind, D, β, V_th)`` (the membrane it leaves is not
    needed: ``spike_project`` resets the neuron after every call). Returns (y, q): y [*, out] =
    V_th · Σ_j q_j W[:, j] + b in weight's dtype (spike_driven: the |q_j| signed adds of Eq 9
    instead of one multiply-add per column), q [*, in] in x's dtype. Raises ValueError on NaN in x."""
    _check(weight, bias, counter, x, 1)
    _, D = nf._resolve(kind, D)
    nf.check_exact_integers(x.dtype, D)
    rows = _rows(x, 2)
    k = _cpp(weight) if x.dtype in (torch.float32, torch.bfloat16, torch.float16) and kind in KIND_CODES else None
    if k is not None:
        y, q, nans = k.spike_project(rows, weight, _bias(bias), KIND_CODES[kind], D, v_threshold, v_threshold,
                                     spike_driven, counter)
        if nans:
            raise ValueError(nf.NAN_MESSAGE)
    else:
        out, _ = nf.neuron_step(rows, None, kind, D, 0.0, v_threshold, spike_driven=spike_driven)
        q = out.sum(0) if spike_driven else out
        form = event_torch.spikes_linear if spike_driven else event_torch.counts_linear
        y, events = form(out, weight)
        y = _finish(y, events, weight, bias, v_threshold, counter)
    return _unrows(y, x.shape[:-1]), _unrows(q, x.shape[:-1])


# ---- the measured rule: when the event path beats dense F.linear ---------------------------------
# EVENT_CROSSOVER[(backend, form, rows)][(in_features, out_features)] = the fraction of the input
# columns active (in any of the rows; the rows sharing their active columns, the most work for that
# union) at which the event path's time reaches dense F.linear's on the same column-major float32
# weights, 1 torch thread, weights streamed from memory (~1 GiB of distinct matrices), batch of
# `rows`. backend "cpp" (the C++ kernels) or "torch" (the embedding_bag forms); form "counts"
# (event_linear, event_spike_project) or "spikes" (event_linear_spikes, spike_driven=True).
# Each value is where the least-squares line through a sweep of the active fraction (0..100 % in
# 5 % steps at 1 row, 10 % steps at 4 and 16 rows, 5 interleaved repetitions) reaches ratio 1.
# Measured by `python -m benchmarks.event_linear`, which writes benchmarks/event_crossover.json and
# .png (tests/benchmarks/test_event_benchmark.py keeps this table equal to that record): 2026-12-01,
# the 2-core Intel Xeon (AVX-512) CI machine shared with other jobs (load 0.8–1.3), torch 2.13.0.
# Above the crossover dense wins; at 100 % active the C++ integer form is within ~1.0–1.07× dense.
EVENT_CROSSOVER: dict[tuple[str, str, int], dict[tuple[int, int], float]] = {
    ("cpp", "counts", 1): {(768, 3352): 0.95, (1536, 768): 0.9},
    ("cpp", "spikes", 1): {(768, 3352): 0.87, (1536, 768): 0.8},
    ("cpp", "counts", 4): {(768, 3352): 0.99, (1536, 768): 0.86},
    ("cpp", "spikes", 4): {(768, 3352): 0.88, (1536, 768): 0.73},
    ("cpp", "counts", 16): {(768, 3352): 0.67, (1536, 768): 0.68},
    ("cpp", "spikes", 16): {(768, 3352): 0.55, (1536, 768): 0.49},
    ("torch", "counts", 1): {(768, 3352): 0.57, (1536, 768): 0.45},
    ("torch", "spikes", 1): {(768, 3352): 0.45, (1536, 768): 0.36},
}


def event_is_faster(in_features: int, out_features: int, active_fraction: float, rows: int = 1, *,
                    spikes: bool = False, dtype: torch.dtype = torch.float32) -> bool:
    """Whether the event path beats dense F.linear for this projection, by EVENT_CROSSOVER.

    active_fraction: of the in_features columns, those non-zero in any row. The row count takes the
    crossover of the smallest measured row count ≥ rows (more rows lower it); an unmeasured shape
    the lowest crossover measured at that row count; more rows than measured, or no measurement for
    the backend and form: False (dense). Float32 weights use the built backend's table, others the
    pure-torch one."""
    backend = "cpp" if dtype == torch.float32 and event_backend() == "cpp" else "torch"
    form = "spikes" if spikes else "counts"
    measured = sorted(r for b, f, r in EVENT_CROSSOVER if (b, f) == (backend, form) and r >= rows)
    if not measured:
        return False
    table = EVENT_CROSSOVER[(backend, form, measured[0])]
    return active_fraction < table.get((in_features, out_features), min(table.values()))
