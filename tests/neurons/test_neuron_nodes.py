"""The SpikingJelly nodes: step modes, state, SJ utilities, shapes/dtypes, parameters, backends."""

import subprocess
import sys

import pytest
import torch
from spikingjelly.activation_based import functional as sjf
from spikingjelly.activation_based import monitor

import neurons
from neurons import cupy_backend
from neurons import functional as nf

KINDS = ["lif", "ilif", "tilif"]
T, SHAPE = 4, (3, 5, 6)


def inputs(seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    return (torch.randn(T, *SHAPE, generator=torch.Generator().manual_seed(seed)) * 4).to(dtype)


def node(kind: str, **kwargs):
    return neurons.make_neuron(kind, D=3, beta=0.5, v_threshold=0.8, alpha=0.7, **kwargs)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("spike_driven", [False, True])
def test_multi_step_equals_loop_of_single_steps(kind, spike_driven):
    x_seq = inputs()
    single, multi = node(kind), node(kind, step_mode="m")
    single.spike_driven = multi.spike_driven = spike_driven
    xs, xm = x_seq.clone().requires_grad_(), x_seq.clone().requires_grad_()
    ys = torch.cat([single(x) for x in xs]) if spike_driven else torch.stack([single(x) for x in xs])
    ym = multi(xm)
    assert torch.equal(ys, ym) and torch.equal(single.v, multi.v)
    if not spike_driven:
        weights = torch.randn(ym.shape, generator=torch.Generator().manual_seed(1))
        (ys * weights).sum().backward()
        (ym * weights).sum().backward()
        assert torch.equal(xs.grad, xm.grad) and xs.grad.abs().sum() > 0
    else:
        assert not ym.requires_grad


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_shape_dtype_device_preserved(kind, dtype):
    n = node(kind)
    D = n.D
    for shape in [(7,), (2, 3), SHAPE]:
        sjf.reset_net(n)
        n.spike_driven = False
        x = torch.randn(shape).to(dtype)
        y = n(x)
        assert y.shape == x.shape and y.dtype == dtype and y.device == x.device
        assert n.v.dtype == torch.promote_types(dtype, torch.float32) and n.v.shape == x.shape
        n.spike_driven = True
        y = n(x)
        assert y.shape == (D, *shape) and y.dtype == dtype and set(y.unique().tolist()) <= {-1.0, 0.0, 1.0}
    n = node(kind, step_mode="m")
    n.spike_driven = True
    assert n(inputs(dtype=dtype)).shape == (T * D, *SHAPE)


@pytest.mark.parametrize("kind", KINDS)
def test_reset_net_restores_state(kind):
    x_seq = inputs()
    n = node(kind, step_mode="m")
    first = n(x_seq)
    n(inputs(seed=1))
    sjf.reset_net(n)
    assert n.v == 0.0  # SpikingJelly's reset value of the memory
    assert torch.equal(n(x_seq), first)


def test_set_step_mode_and_monitors():
    net = torch.nn.Sequential(neurons.TILIFNode(D=2), torch.nn.Identity(), neurons.ILIFNode(D=2))
    sjf.set_step_mode(net, "m")
    assert net[0].step_mode == net[2].step_mode == "m"
    outputs = monitor.OutputMonitor(net, neurons.SpikingNode)
    voltages = monitor.AttributeMonitor("v", pre_forward=False, net=net, instance=neurons.SpikingNode)
    y = net(inputs())
    assert len(outputs.records) == 2 and torch.equal(outputs.records[1], y)
    assert len(voltages.records) == 2 and voltages.records[0].shape == SHAPE
    with pytest.raises(ValueError, match="step_mode"):
        sjf.set_step_mode(net, "x")


def test_store_v_seq_and_functional_forward():
    n = neurons.TILIFNode(step_mode="m", store_v_seq=True)
    x_seq = inputs()
    n(x_seq)
    loop = neurons.TILIFNode()
    steps = []
    for x in x_seq:
        loop(x)
        steps.append(loop.v)
    assert torch.equal(n.v_seq, torch.stack(steps))
    # SJ's explicit-state API: same transition, module memory untouched
    fresh = neurons.TILIFNode(step_mode="m")
    (out,), (v,) = fresh.functional_forward((x_seq,), (0.0,))
    assert fresh.v == 0.0 and torch.equal(v, n.v) and torch.equal(out, neurons.TILIFNode(step_mode="m")(x_seq))


def test_lif_is_binary_and_make_neuron():
    assert neurons.make_neuron("none") is None
    lif = neurons.make_neuron("lif", D=4)
    assert isinstance(lif, neurons.LIFNode) and lif.D == 1
    assert set(lif(torch.randn(100) * 3).unique().tolist()) <= {0.0, 1.0}
    tilif = neurons.make_neuron("tilif", D=4, step_mode="m", detach_reset=True, store_v_seq=True)
    assert (tilif.D, tilif.beta, tilif.v_threshold, tilif.alpha, tilif.step_mode) == (4, 0.25, 1.0, 1.0, "m")
    assert tilif.detach_reset and tilif.store_v_seq
    assert "D=4" in repr(tilif) and "backend=auto" in repr(tilif)


def test_detach_reset_cuts_the_reset_path_only():
    x_seq = inputs()
    grads = []
    for detach in (False, True):
        x = x_seq.clone().requires_grad_()
        neurons.TILIFNode(step_mode="m", detach_reset=detach)(x).sum().backward()
        grads.append(x.grad)
    assert not torch.equal(*grads)
    x = x_seq[0].clone().requires_grad_()
    neurons.TILIFNode(detach_reset=True)(x).sum().backward()  # one step: no reset path yet
    y = x_seq[0].clone().requires_grad_()
    nf.quantize(y, "tilif", 4).sum().backward()
    assert torch.equal(x.grad, y.grad)


BAD = [
    ("D", 0, "D must be an integer >= 1"),
    ("D", 2.5, "D must be an integer >= 1"),
    ("D", True, "D must be an integer >= 1"),
    ("beta", -0.1, r"beta must be a finite number in \[0.0, 1.0\]"),
    ("beta", 1.5, r"beta must be a finite number in \[0.0, 1.0\]"),
    ("beta", float("nan"), "beta must be a finite number"),
    ("v_threshold", 0.0, r"v_threshold must be a finite number in \(0.0, inf\)"),
    ("v_threshold", -1.0, "v_threshold"),
    ("v_threshold", float("inf"), "v_threshold"),
    ("alpha", 0.0, r"alpha must be a finite number in \(0.0, inf\)"),
    ("alpha", float("nan"), "alpha"),
    ("alpha", "1", "alpha"),
    ("backend", "numba", r"backend must be one of \('auto', 'torch', 'cupy'\)"),
    ("step_mode", "x", "step_mode must be 's'"),
]


@pytest.mark.parametrize("kind", ["ilif", "tilif"])
@pytest.mark.parametrize("name,value,message", BAD)
def test_bad_parameters_raise_value_error(kind, name, value, message):
    with pytest.raises(ValueError, match=message):
        neurons.make_neuron(kind, **{name: value})
    cls = neurons.ILIFNode if kind == "ilif" else neurons.TILIFNode
    with pytest.raises(ValueError, match=message):
        cls(**{name: value})


def test_bad_kind_raises_value_error():
    with pytest.raises(ValueError, match="kind must be 'none' or one of"):
        neurons.make_neuron("relu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_cupy_backend_without_cuda_says_why_and_how():
    with pytest.raises(RuntimeError, match=r"torch.cuda.is_available\(\) is False.*pip install cupy-cuda"):
        neurons.make_neuron("tilif", backend="cupy")


@pytest.mark.parametrize("cuda_version,wheel", [("12.6", "cupy-cuda12x"), ("13.0", "cupy-cuda13x")])
def test_cupy_backend_without_cupy_names_the_matching_wheel(monkeypatch, cuda_version, wheel):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.version, "cuda", cuda_version)
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    with pytest.raises(ImportError, match=f"CuPy, which is not installed: `pip install {wheel}`"):
        neurons.TILIFNode(backend="cupy")


def test_package_import_does_not_import_cupy():
    code = "import sys, neurons; assert 'cupy' not in sys.modules and 'neurons.cupy_backend' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cupy_backend_node_matches_torch_backend(monkeypatch, host_launch, kind, dtype):
    """The cupy node path (autograd Function, layouts, kernels) on the CPU via the host-compiled
    kernels: identical outputs, membranes and gradients to the torch backend, 's' and 'm' modes."""
    monkeypatch.setattr(cupy_backend, "require_cupy", lambda: None)
    monkeypatch.setattr(cupy_backend, "launch_cuda", host_launch)
    x_seq = inputs(dtype=dtype)
    for step_mode in ("s", "m"):
        for spike_driven in (False, True):
            results = []
            for backend in ("torch", "cupy"):
                n = node(kind, backend=backend)
                sjf.set_step_mode(n, step_mode)
                n.spike_driven = spike_driven
                x = x_seq.clone().requires_grad_()
                y = n(x) if step_mode == "m" else torch.cat([n(step)[None] for step in x])
                if not spike_driven:
                    (y.float() * torch.linspace(-1, 1, y.numel()).view(y.shape)).sum().backward()
                results.append((y, n.v, x.grad))
            (y0, v0, g0), (y1, v1, g1) = results
            assert torch.equal(y0, y1) and torch.equal(v0, v1)
            assert (g0 is None and g1 is None) or torch.equal(g0, g1)


def test_lif_node_takes_the_keyword_every_node_takes():
    """``LIFNode(D=1)`` (issue 16: it raised "got multiple values for argument 'D'") builds a binary node;
    another D is refused with a message that names the nodes that take it."""
    lif = neurons.LIFNode(D=1, v_threshold=0.5)
    assert lif.D == 1 and set(lif(torch.tensor([-1.0, 0.2, 0.5, 3.0])).tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError, match=r"D must be 1, got D=4; use ILIFNode or TILIFNode"):
        neurons.LIFNode(D=4)
