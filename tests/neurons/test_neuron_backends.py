"""Backend selection of the nodes ("auto" | "torch" | "cupy", $SPIKINGMAMBA_NEURON_BACKEND) and the
CuPy launcher's argument check, on the CPU: a fake "CUDA tensor + compiled kernels" seam routes the
auto path to the host-compiled kernels (conftest.py), and the launcher is checked with cupy absent."""

import re
import sys
import warnings

import numpy as np
import pytest
import torch
from neuron_cases import cupy_ready

import neurons
from neurons import cupy_backend
from neurons.params import BACKEND_ENV

KINDS = ["lif", "ilif", "tilif"]


@pytest.fixture(autouse=True)
def fresh_selection(monkeypatch):
    """No override from the caller's environment, and no auto decision cached from another test."""
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    cupy_backend.clear_cache()
    yield
    cupy_backend.clear_cache()


@pytest.fixture
def fake_cuda(monkeypatch, host_launch):
    """Every tensor counts as CUDA while ``state["cuda"]``; kernels "compile"; launches run on the
    host and are counted."""
    state = {"cuda": True, "launches": 0, "compiles": 0}

    def launch(*args):
        state["launches"] += 1
        host_launch(*args)

    def compile_kernels(index):
        state["compiles"] += 1
        return {}

    monkeypatch.setattr(cupy_backend, "on_cuda", lambda tensor: state["cuda"])
    monkeypatch.setattr(cupy_backend, "compile_kernels", compile_kernels)
    monkeypatch.setattr(cupy_backend, "launch_cuda", launch)
    return state


def run(node, x):
    """Integer-mode output, membrane and input gradient of one 's'-mode call."""
    x = x.clone().requires_grad_()
    y = node(x)
    (y.float() * torch.linspace(-1, 1, y.numel()).view(y.shape)).sum().backward()
    return y.detach(), node.v.detach(), x.grad


def inputs(dtype=torch.float32):
    return (torch.randn(5, 7, generator=torch.Generator().manual_seed(0)) * 4).to(dtype)


def test_default_backend_is_auto():
    assert neurons.TILIFNode().backend == "auto" and neurons.make_neuron("ilif").backend == "auto"


@pytest.mark.parametrize("kind", KINDS)
def test_auto_takes_torch_on_cpu_tensors(monkeypatch, kind):
    def never(*args, **kwargs):
        raise AssertionError("the cupy path was taken for a CPU tensor")

    monkeypatch.setattr(cupy_backend, "neuron_sequence", never)
    monkeypatch.setattr(cupy_backend, "compile_kernels", never)
    node = neurons.make_neuron(kind, D=3)
    assert not node.uses_cupy(inputs())
    auto, torch_path = run(node, inputs()), run(neurons.make_neuron(kind, D=3, backend="torch"), inputs())
    assert all(torch.equal(a, b) for a, b in zip(auto, torch_path))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_auto_takes_the_kernels_on_cuda_tensors(fake_cuda, kind, dtype):
    node = neurons.make_neuron(kind, D=3, beta=0.5, v_threshold=0.8)
    assert node.uses_cupy(inputs(dtype))
    got = run(node, inputs(dtype))
    assert fake_cuda["launches"] == 2  # forward and backward
    fake_cuda["cuda"] = False
    expected = run(neurons.make_neuron(kind, D=3, beta=0.5, v_threshold=0.8, backend="torch"), inputs(dtype))
    assert all(torch.equal(a, b) for a, b in zip(got, expected))
    assert fake_cuda["compiles"] == 1


def test_auto_follows_the_device_of_each_call(fake_cuda):
    """A model moved between devices keeps working: the choice is made per call."""
    node = neurons.TILIFNode(D=4)
    outputs = []
    for cuda in (True, False, True):
        fake_cuda["cuda"] = cuda
        outputs.append(run(node, inputs()))
        node.reset()
    assert fake_cuda["launches"] == 4 and fake_cuda["compiles"] == 1
    assert all(torch.equal(a, b) for first, other in zip(outputs, outputs[1:]) for a, b in zip(first, other))


def test_auto_keeps_float64_on_the_torch_path(fake_cuda):
    node = neurons.TILIFNode(D=4)
    assert not node.uses_cupy(inputs(torch.float64))
    run(node, inputs(torch.float64))
    assert fake_cuda["launches"] == 0 and fake_cuda["compiles"] == 0


def test_auto_warns_once_when_the_kernels_fail_and_uses_torch(fake_cuda, monkeypatch):
    def broken(index):
        fake_cuda["compiles"] += 1
        raise RuntimeError("nvrtc: cannot open libnvrtc")

    monkeypatch.setattr(cupy_backend, "compile_kernels", broken)
    node = neurons.TILIFNode(D=4)
    with pytest.warns(RuntimeWarning, match=r"CuPy kernels are unavailable .*RuntimeError: nvrtc: cannot open"):
        got = run(node, inputs())
    node.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the failure was reported once
        again = run(node, inputs())
    assert fake_cuda["compiles"] == 1 and fake_cuda["launches"] == 0
    assert all(torch.equal(a, b) for a, b in zip(got, again))


def test_environment_overrides_the_argument(fake_cuda, monkeypatch):
    monkeypatch.setenv(BACKEND_ENV, "torch")
    node = neurons.make_neuron("tilif", backend="auto")
    assert node.backend == "torch" and not node.uses_cupy(inputs())
    run(node, inputs())
    assert fake_cuda["launches"] == 0


def test_environment_cupy_on_a_machine_without_cuda_is_the_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv(BACKEND_ENV, "cupy")
    with pytest.raises(RuntimeError, match=r"torch.cuda.is_available\(\) is False"):
        neurons.TILIFNode()


def test_bad_environment_value_names_the_variable(monkeypatch):
    monkeypatch.setenv(BACKEND_ENV, "numba")
    with pytest.raises(ValueError, match=f"{BACKEND_ENV} must be one of \\('auto', 'torch', 'cupy'\\), got 'numba'"):
        neurons.TILIFNode()
    with pytest.raises(ValueError, match="backend must be one of"):  # a bad argument is still named
        neurons.TILIFNode(backend="cuda")


def test_cupy_backend_on_a_cpu_tensor_says_use_torch_or_auto(monkeypatch):
    monkeypatch.setattr(cupy_backend, "require_cupy", lambda: None)
    node = neurons.TILIFNode(backend="cupy")
    with pytest.raises(ValueError, match=r"runs on CUDA tensors, got a tensor on cpu; use backend='torch' or 'auto'"):
        node(inputs())


# ---- the launcher's argument check (cupy absent) ----------------------------------------------

N, T, D = 6, 3, 4


def forward_args(dtype=torch.float32, spike_driven=False):
    """Valid arguments of <kind>_forward_<suffix> for [T, N] inputs on the CPU."""
    return [
        torch.zeros(T, N, dtype=dtype), torch.zeros(N), torch.zeros(T * D if spike_driven else T, N, dtype=dtype),
        torch.zeros(T, N), torch.zeros(T, N), torch.zeros(1, dtype=torch.int32),
        np.int64(N), np.int32(T), np.float32(0.25), np.float32(1.0), np.int32(D), np.int32(spike_driven),
    ]  # fmt: skip


def backward_args(dtype=torch.float32):
    return [
        torch.zeros(T, N, dtype=dtype), torch.zeros(T, N), torch.zeros(T, N), torch.zeros(T, N, dtype=dtype),
        torch.zeros(N), np.int64(N), np.int32(T), np.float32(0.25), np.float32(1.0), np.float32(1.0), np.int32(D),
        np.int32(0),
    ]  # fmt: skip


@pytest.fixture
def no_cupy(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` raises ImportError


def replace(args, index, value):
    args = list(args)
    args[index] = value
    return args


@pytest.mark.parametrize("name,args", [
    ("forward_f32", forward_args()), ("forward_bf16", forward_args(torch.bfloat16, spike_driven=True)),
    ("backward_f16", backward_args(torch.float16)),
])  # fmt: skip
def test_valid_arguments_pass(no_cupy, name, args):
    cupy_backend.check_launch("tilif", name, torch.device("cpu"), N, *args)


BAD_LAUNCHES = [
    ("wrong dtype of x", "forward_f32", replace(forward_args(), 0, torch.zeros(T, N, dtype=torch.float64)),
     "x must be torch.float32, got torch.float64"),
    ("wrong membrane dtype", "forward_bf16", replace(forward_args(torch.bfloat16), 1, torch.zeros(N).bfloat16()),
     "v0 must be torch.float32"),
    ("non-contiguous x", "forward_f32", replace(forward_args(), 0, torch.zeros(N, T).t()), "x must be contiguous"),
    ("out too small for the micro-steps", "forward_f32", replace(forward_args(), 11, np.int32(1)),
     f"out must have {T * D * N} elements, got {T * N}"),
    ("short membrane", "backward_f32", replace(backward_args(), 4, torch.zeros(N - 1)), f"grad_v0 must have {N}"),
    ("D too large for bf16", "forward_bf16", replace(forward_args(torch.bfloat16), 10, np.int32(257)),
     "D=257 is larger than 256"),
    ("python int instead of int64", "forward_f32", replace(forward_args(), 6, N), "N must be a numpy int64"),
    ("float instead of float32", "backward_f32", replace(backward_args(), 9, 1.0), "alpha must be a numpy float32"),
    ("N disagrees", "forward_f32", replace(forward_args(), 6, np.int64(N + 1)), "needs N = 6"),
    ("no steps", "forward_f32", replace(forward_args(), 7, np.int32(0)), "T >= 1"),
    ("a number for a pointer", "forward_f32", replace(forward_args(), 3, 0), "h_seq must be a tensor"),
    ("missing argument", "backward_f32", backward_args()[:-1], "takes 12 arguments, got 11"),
    ("unknown kernel", "forward_f64", forward_args(), "no such kernel"),
]  # fmt: skip


@pytest.mark.parametrize("case,name,args,message", BAD_LAUNCHES, ids=[case[0] for case in BAD_LAUNCHES])
def test_bad_arguments_are_refused_before_cupy_is_imported(no_cupy, case, name, args, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        cupy_backend.check_launch("tilif", name, torch.device("cpu"), N, *args)


def test_binary_lif_takes_D_1(no_cupy):
    with pytest.raises(ValueError, match="the lif neuron emits at most 1, got D=4"):
        cupy_backend.check_launch("lif", "forward_f32", torch.device("cpu"), N, *forward_args())


def test_launch_cuda_checks_the_device_before_importing_cupy(no_cupy):
    with pytest.raises(ValueError, match="runs on CUDA tensors, got a tensor on cpu"):
        cupy_backend.launch_cuda("tilif", "forward_f32", torch.device("cpu"), N, *forward_args())
    with pytest.raises(ValueError, match="x is on cpu, the kernel runs on cuda:0"):
        cupy_backend.launch_cuda("tilif", "forward_f32", torch.device("cuda", 0), N, *forward_args())


@pytest.mark.gpu
@pytest.mark.skipif(not cupy_ready(), reason="needs a CUDA GPU and cupy (not available on this machine)")
@pytest.mark.parametrize("kind", KINDS)
def test_auto_runs_the_kernels_on_a_gpu(kind):
    x = inputs().cuda()
    node = neurons.make_neuron(kind, D=3, beta=0.5, v_threshold=0.8)
    assert node.uses_cupy(x)
    got = run(node, x)
    expected = run(neurons.make_neuron(kind, D=3, beta=0.5, v_threshold=0.8, backend="torch"), x)
    assert all(torch.equal(a, b) for a, b in zip(got, expected))
