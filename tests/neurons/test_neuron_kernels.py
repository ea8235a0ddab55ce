"""The CUDA kernels of neurons/kernels/: they compile with nvcc, and — compiled for the host through
host_shim.cpp — compute exactly what the torch backend computes (forward bits, membrane bits and
gradients) on edge-case inputs. GPU tests run the real CuPy path where a GPU exists."""

import ctypes
import re
import shutil
import subprocess

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from neuron_cases import BITS, DTYPES, cupy_ready, edge_tensor, fuzz

from benchmarks.gpu.check_neurons import outputs
from neurons import cupy_backend
from neurons import functional as nf
from neurons.kinds import KINDS


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not found: cannot compile the CUDA sources")
def test_every_kernel_source_compiles_with_nvcc(tmp_path):
    """Same options as the NVRTC build (no fast-math, no FMA contraction); all three in parallel."""
    jobs = {
        kind: subprocess.Popen(
            ["nvcc", "--ptx", "-x", "cu", *cupy_backend.NVRTC_OPTIONS, str(cupy_backend.KERNEL_DIR / f"{kind}.cuh"),
             "-o", str(tmp_path / f"{kind}.ptx")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        for kind in KINDS
    }
    for kind, job in jobs.items():
        output = job.communicate()[0]
        assert job.returncode == 0, output
        entries = set(re.findall(r"\.visible \.entry (\w+)\(", (tmp_path / f"{kind}.ptx").read_text()))
        assert entries == {f"{kind}_{d}_{s}" for d in ("forward", "backward") for s in ("f32", "f16", "bf16")}


def host_call(library, name, source: torch.Tensor, out_dtype) -> torch.Tensor:
    """Call host_shim.cpp's exported conversion loop ``name``(in, out, n)."""
    out = torch.empty(source.shape, dtype=out_dtype)
    function = getattr(library, name)
    function.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_longlong]
    function(source.data_ptr(), out.data_ptr(), source.numel())
    return out


def test_kernel_fp16_bf16_conversions_match_torch(host_kernels):
    """The kernels' own fp16/bf16 conversions: every fp16 bit pattern loads as torch loads it, and
    float32 values (specials, round-to-even ties, 2^20 random bit patterns) store as torch rounds them."""
    library = host_kernels["tilif"]
    every_f16 = torch.arange(-(2**15), 2**15, dtype=torch.int32).to(torch.int16)
    loaded = host_call(library, "host_load_f16", every_f16, torch.float32)
    torch.testing.assert_close(loaded, every_f16.view(torch.float16).float(), rtol=0, atol=0, equal_nan=True)
    assert torch.equal(loaded.view(torch.int32) >> 31, every_f16.view(torch.float16).float().view(torch.int32) >> 31)

    g = torch.Generator().manual_seed(0)
    random = torch.randint(-(2**31), 2**31, (2**20,), generator=g, dtype=torch.int32).view(torch.float32)
    f16_ties = (every_f16.view(torch.float16).float()[:-1] + every_f16.view(torch.float16).float()[1:]) / 2
    bf16_grid = torch.arange(-(2**15), 2**15, dtype=torch.int32).to(torch.int16).view(torch.bfloat16).float()
    bf16_ties = (bf16_grid[:-1] + bf16_grid[1:]) / 2
    specials = torch.tensor([0.0, -0.0, float("inf"), -float("inf"), 65504.0, 65519.99, 65520.0, 2.0**-25, 2.0**-24, 3e38])
    values = torch.cat([specials, random, f16_ties, bf16_ties]).contiguous()
    for name, dtype in (("host_store_f16", torch.float16), ("host_store_bf16", torch.bfloat16)):
        stored = host_call(library, name, values, torch.int16).view(dtype)
        expected = values.to(dtype)
        finite = ~torch.isnan(expected)
        assert torch.equal(stored[finite].view(torch.int16), expected[finite].view(torch.int16)), name
        assert torch.isnan(stored[~finite]).all()


FUZZ_CASES = given(
    st.sampled_from(tuple(KINDS)),
    st.sampled_from(DTYPES),
    st.integers(1, 6),
    st.integers(1, 4),
    st.one_of(st.sampled_from([0.0, 0.25, 0.5, 1.0]), st.floats(0, 1)),
    st.one_of(st.just(1.0), st.floats(0.05, 8.0)),
    st.floats(0.01, 10.0),
    st.booleans(),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)


def assert_kernels_equal_torch(sequence, device, kind, dtype, D, T, beta, v_threshold, alpha, detach_reset,
                               spike_driven, seed):
    """Bit-exact forward (spikes / counts and every membrane), equal gradients, same NaN error."""
    D = 1 if kind == "lif" else D
    N = 48
    x_seq = edge_tensor(seed, D, dtype, T * N).view(T, N) * torch.tensor(v_threshold).to(dtype)
    g = torch.Generator().manual_seed(seed)
    v0 = torch.randn(N, generator=g) * 2
    w_out = torch.randn((T * D if spike_driven else T, N), generator=g)
    w_v = torch.randn(N, generator=g)
    x_seq, v0, w_out, w_v = (t.to(device) for t in (x_seq, v0, w_out, w_v))
    params = (kind, D, beta, v_threshold, alpha, detach_reset, spike_driven)
    expected = outputs(nf.neuron_sequence, x_seq, v0, (w_out, w_v), params)
    got = outputs(sequence, x_seq, v0, (w_out, w_v), params)
    if isinstance(expected, str) or isinstance(got, str):
        assert expected == got  # both raise the same NaN error (e.g. +inf then −inf input)
        return
    (out, v_seq, gx, gv), (out_k, v_seq_k, gx_k, gv_k) = expected, got
    assert torch.equal(out.view(BITS[dtype]), out_k.view(BITS[dtype]))
    assert torch.equal(v_seq.view(torch.int32), v_seq_k.view(torch.int32))
    if spike_driven:
        assert gx is None and gx_k is None
    else:
        torch.testing.assert_close(gx_k, gx, rtol=0, atol=0, equal_nan=True)
        torch.testing.assert_close(gv_k, gv, rtol=0, atol=0, equal_nan=True)


@fuzz(400)
@FUZZ_CASES
def test_host_kernels_equal_torch_backend(host_launch, kind, dtype, D, T, beta, v_threshold, alpha, detach_reset,
                                         spike_driven, seed):
    kernels = lambda *args: cupy_backend.neuron_sequence(*args, launch=host_launch)  # noqa: E731
    assert_kernels_equal_torch(kernels, "cpu", kind, dtype, D, T, beta, v_threshold, alpha, detach_reset,
                               spike_driven, seed)


@pytest.mark.gpu
@pytest.mark.skipif(not cupy_ready(), reason="needs a CUDA GPU and cupy (not available on this machine)")
@fuzz(400)
@FUZZ_CASES
def test_cupy_kernels_on_gpu_equal_torch_backend_fuzz(kind, dtype, D, T, beta, v_threshold, alpha, detach_reset,
                                                      spike_driven, seed):
    """The host test's fuzz cases, with the real CuPy launcher on CUDA tensors."""
    assert_kernels_equal_torch(cupy_backend.neuron_sequence, "cuda", kind, dtype, D, T, beta, v_threshold, alpha,
                               detach_reset, spike_driven, seed)


@pytest.mark.gpu
@pytest.mark.skipif(not cupy_ready(), reason="needs a CUDA GPU and cupy (not available on this machine)")
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spike_driven", [False, True])
def test_cupy_backend_on_gpu_equals_torch_backend(kind, dtype, spike_driven):
    D, T, N = (1 if kind == "lif" else 4), 3, 4096
    x_seq = edge_tensor(0, D, dtype, T * N).view(T, N).cuda()
    v0 = torch.randn(N, device="cuda")
    w_out = torch.randn((T * D if spike_driven else T, N), device="cuda")
    w_v = torch.randn(N, device="cuda")
    params = (kind, D, 0.25, 1.3, 0.7, False, spike_driven)
    expected = outputs(nf.neuron_sequence, x_seq, v0, (w_out, w_v), params)
    got = outputs(cupy_backend.neuron_sequence, x_seq, v0, (w_out, w_v), params)
    assert type(expected) is type(got)
    if isinstance(got, str):
        assert got == expected
        return
    for a, b in zip(expected, got):
        if a is not None:
            torch.testing.assert_close(b, a, rtol=0, atol=0, equal_nan=True)
