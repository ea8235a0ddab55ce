"""Check "neurons": the CuPy kernels of LIF, I-LIF and TI-LIF on the GPU against the torch backend on
the same GPU, bit for bit — outputs, every membrane and (integer mode) the gradients of x and v0.

Cases: every kind × float32 / bfloat16 / float16 × T ∈ {1, 3} × integer mode (detach_reset off and
on) and the spike-driven micro-step expansion (Eq 7–8), each over 2^16 elements per step: exact
ties (k + ½)·V_th, integers around ±D, uniform values, huge and subnormal magnitudes, signed zeros and (T = 1
only, where no NaN can arise) ±inf. One float32 case has 2^25 elements, more than the 65535 blocks of
256 threads the launcher uses, so the kernels' grid-stride loop runs. Then a node with backend
"auto" given a CUDA tensor must take the kernels and match backend "torch" in both step modes, and
one fwd+bwd call of each path is timed. The hypothesis fuzz cases of the CPU tests run on the GPU
through ``pytest -m gpu`` (tests/neurons/test_neuron_kernels.py).
"""

from __future__ import annotations

import itertools
import statistics

import torch

from benchmarks.gpu.report import run_check, status
from benchmarks.harness import interleaved_times
from neurons import cupy_backend, make_neuron
from neurons import functional as nf
from neurons.kinds import KINDS

DTYPES = (torch.float32, torch.bfloat16, torch.float16)
BITS = {torch.float32: torch.int32, torch.bfloat16: torch.int16, torch.float16: torch.int16}
PARAMS = dict(beta=0.25, v_threshold=1.3, alpha=0.7)


def edge_inputs(T: int, N: int, D: int, dtype: torch.dtype, seed: int, infinite: bool) -> torch.Tensor:
    """x [T, N] on the GPU, each element from one category (see the module docstring)."""
    g = torch.Generator(device="cuda").manual_seed(seed)
    shape = (T, N)
    k = torch.randint(-D - 3, D + 4, shape, generator=g, device="cuda").float()
    info = torch.finfo(dtype)
    specials = torch.tensor([0.0, -0.0, info.max, -info.max, info.tiny, -info.tiny * info.eps, D, -D,
                             *((float("inf"), -float("inf")) if infinite else ())], device="cuda")
    uniform = lambda: torch.rand(shape, generator=g, device="cuda")  # noqa: E731
    magnitudes = torch.where(uniform() < 0.5, -1.0, 1.0) * 2.0 ** (uniform() * 200 - 130)
    if not infinite:  # beyond the dtype's range they would round to ±inf
        magnitudes = magnitudes.clamp(-info.max, info.max)
    candidates = torch.stack([
        (k + 0.5) * PARAMS["v_threshold"], k * PARAMS["v_threshold"], (uniform() * 2 - 1) * (D + 3), magnitudes,
        specials[torch.randint(len(specials), shape, generator=g, device="cuda")],
    ])  # fmt: skip
    pick = torch.randint(len(candidates), shape, generator=g, device="cuda")
    return candidates.gather(0, pick[None])[0].to(dtype)


def outputs(sequence, x_seq, v0, weights, params):
    """(out, v_seq, grad x, grad v0) of one path (integer mode: the gradients of Σ out·w_out + Σ v_T·w_v for
    ``weights`` = (w_out, w_v)), or the ValueError message it raised. The CPU tests use it too."""
    x, v = x_seq.clone().requires_grad_(), v0.clone().requires_grad_()
    try:
        out, v_seq = sequence(x, v, *params)
    except ValueError as error:
        return str(error)
    if out.requires_grad:
        ((out.float() * weights[0][: out.shape[0]]).sum() + (v_seq[-1] * weights[1]).sum()).backward()
    return out.detach(), v_seq.detach(), x.grad, v.grad


def identical(a, b, dtype) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    out, v_seq, gx, gv = a
    out_k, v_seq_k, gx_k, gv_k = b
    same = torch.equal(out.view(BITS[dtype]), out_k.view(BITS[dtype])) and torch.equal(
        v_seq.view(torch.int32), v_seq_k.view(torch.int32))
    for g, g_k in ((gx, gx_k), (gv, gv_k)):  # gradients: equal values, NaN equal to NaN (as the CPU tests)
        same = same and ((g is None and g_k is None) or bool(((g == g_k) | (g.isnan() & g_k.isnan())).all()))
    return same


def kernel_cases() -> list[dict]:
    cases = []
    for seed, (kind, dtype, T, mode) in enumerate(itertools.product(
            KINDS, DTYPES, (1, 3), ("integer", "integer_detach_reset", "spike_driven"))):
        D = 1 if kind == "lif" else 4
        spike_driven, detach = mode == "spike_driven", mode == "integer_detach_reset"
        cases.append(dict(kind=kind, dtype=dtype, T=T, D=D, N=2**16, seed=seed, detach=detach,
                          spike_driven=spike_driven))
    cases.append(dict(kind="tilif", dtype=torch.float32, T=1, D=4, N=2**25, seed=999, detach=False,
                      spike_driven=False))
    return cases


def run_case(case: dict) -> dict:
    x = edge_inputs(case["T"], case["N"], case["D"], case["dtype"], case["seed"], infinite=case["T"] == 1)
    g = torch.Generator(device="cuda").manual_seed(case["seed"])
    v0 = torch.randn(case["N"], generator=g, device="cuda") * 2
    weights = (torch.randn(case["T"] * case["D"], case["N"], generator=g, device="cuda"),
               torch.randn(case["N"], generator=g, device="cuda"))
    params = (case["kind"], case["D"], PARAMS["beta"], PARAMS["v_threshold"], PARAMS["alpha"], case["detach"],
              case["spike_driven"])
    reference = outputs(nf.neuron_sequence, x, v0, weights, params)
    kernels = outputs(cupy_backend.neuron_sequence, x, v0, weights, params)
    return {**case, "dtype": str(case["dtype"]), "identical": identical(reference, kernels, case["dtype"]),
            "raised": reference if isinstance(reference, str) else None}


def auto_node_check() -> dict:
    """backend 'auto' on CUDA tensors: takes the kernels, equals backend 'torch' ('s' and 'm' modes)."""
    x_seq = edge_inputs(3, 4096, 4, torch.bfloat16, 7, infinite=False)
    found = {}
    for kind, step_mode in itertools.product(KINDS, ("s", "m")):
        results = []
        for backend in ("auto", "torch"):
            node = make_neuron(kind, D=4, step_mode=step_mode, backend=backend, **PARAMS)
            if backend == "auto" and not node.uses_cupy(x_seq):
                return {"auto_takes_kernels": False}
            x = x_seq.clone().requires_grad_()
            y = node(x) if step_mode == "m" else torch.stack([node(step) for step in x])
            (y.float() * torch.linspace(-1, 1, y.numel(), device="cuda").view(y.shape)).sum().backward()
            results.append((y, node.v, x.grad))
        found[f"{kind}_{step_mode}"] = all(torch.equal(a, b) for a, b in zip(*results))
    return {"auto_takes_kernels": True, "auto_equals_torch": found}


def timing() -> dict:
    """Median seconds of one fwd + bwd call of each path on [3, 2^20] bf16 (TI-LIF, D = 4)."""
    x = edge_inputs(3, 2**20, 4, torch.bfloat16, 3, infinite=False).requires_grad_()
    nodes = {backend: make_neuron("tilif", D=4, step_mode="m", backend=backend) for backend in ("cupy", "torch")}

    def call(node):
        def run():
            node.reset()
            node(x).float().sum().backward()
        return run

    times = interleaved_times({name: call(node) for name, node in nodes.items()}, 5, torch.device("cuda"))
    seconds = {name: statistics.median(t) for name, t in times.items()}
    return {"seconds_per_call": seconds, "kernel_speedup": seconds["torch"] / seconds["cupy"]}


def check(work) -> dict:
    cases = [run_case(case) for case in kernel_cases()]
    auto = auto_node_check()
    ok = (all(c["identical"] for c in cases) and auto["auto_takes_kernels"]
          and all(auto["auto_equals_torch"].values()))
    return {"status": status(ok), "cases": len(cases), "identical": sum(c["identical"] for c in cases),
            "differing": [c for c in cases if not c["identical"]],
            "raised_nan_error": sum(c["raised"] is not None for c in cases), **auto, "timing": timing()}


if __name__ == "__main__":
    run_check(check)
