"""The fused integer-mode count and the nodes' fresh-membrane fast path, bit for bit.

Every fp16 and bf16 bit pattern (NaN excluded) against an exact float64 oracle of the rounding
convention, with and without autograd (the no-grad path skips the autograd Function); and a fresh
node (the fast path of `SpikingNode.single_step_forward`) against the general path (membrane given
as a zero tensor): outputs, membranes and input gradients compared as bit patterns (±0 included).
"""

import pytest
import torch
from neuron_cases import BITS, edge_tensor

import neurons
from neurons import functional as nf

KINDS = ["lif", "ilif", "tilif"]


def all_patterns(dtype: torch.dtype) -> torch.Tensor:
    """Every 16-bit pattern of dtype except NaNs."""
    x = torch.arange(-(2**15), 2**15, dtype=torch.int32).to(torch.int16).view(dtype)
    return x[~torch.isnan(x)]


def oracle_count(x: torch.Tensor, kind: str, D: int) -> torch.Tensor:
    """The documented convention in float64 (exact for fp16/bf16 values): round half away, clip, +0."""
    h = x.double()
    if kind == "lif":
        q = (h >= 1).double()
    else:
        a = h.abs() if kind == "tilif" else torch.where(h > 0, h, 0.0)
        a = a.clamp(max=D)
        m = a.floor() + (a - a.floor() >= 0.5).double()
        q = torch.where(h < 0, -m, m) if kind == "tilif" else m
    return (q + 0.0).to(x.dtype)  # + 0.0: never −0.0


def oracle_window(x: torch.Tensor, kind: str, D: int) -> torch.Tensor:
    h = x.double()
    if kind == "lif":
        return (h > 0.5) & (h < 1.5)
    return ((h >= 0) if kind == "ilif" else (h >= -D)) & (h <= D)


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    bits = {**BITS, torch.float64: torch.int64}[a.dtype]
    return a.dtype == b.dtype and torch.equal(a.view(bits), b.view(bits))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("D", [1, 4, 7])
def test_every_16_bit_pattern(dtype, kind, D):
    x = all_patterns(dtype)
    expected = oracle_count(x, kind, 1 if kind == "lif" else D)
    with torch.no_grad():
        assert same_bits(nf.quantize(x, kind, D), expected)
    xg = x.clone().requires_grad_()
    q = nf.quantize(xg, kind, D, alpha=0.7)
    assert same_bits(q.detach(), expected)
    # upstream gradients with both signs, zeros of both signs and a huge value
    g = torch.randn(x.shape, generator=torch.Generator().manual_seed(D)).to(dtype)
    g[:4] = torch.tensor([0.0, -0.0, 6e4 if dtype == torch.float16 else 3e38, -1.0])
    q.backward(g)
    window = oracle_window(x, kind, 1 if kind == "lif" else D)
    assert same_bits(xg.grad, g * (window.to(dtype) * 0.7))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("spike_driven", [False, True])
@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("v_threshold,detach_reset", [(1.0, False), (0.8, True), (1.3, False)])
def test_fresh_node_fast_path_equals_general_path(kind, dtype, spike_driven, grad, v_threshold, detach_reset):
    n_kwargs = dict(beta=0.25, v_threshold=v_threshold, alpha=0.7, detach_reset=detach_reset)
    (y0, v0, g0), (y1, v1, g1) = _run_pair(kind, dtype, grad, spike_driven, n_kwargs)
    assert same_bits(y0, y1) and same_bits(v0, v1)
    assert (g0 is None and g1 is None) or same_bits(g0, g1)
    if grad and not spike_driven:
        assert g0 is not None and g0.abs().sum() > 0


def _run_pair(kind, dtype, grad, spike_driven, n_kwargs):
    source = torch.float32 if dtype == torch.float64 else dtype  # edge values of fp32 for fp64
    x = torch.cat([edge_tensor(seed, 4, source) for seed in range(4)]).view(4, -1).to(dtype)
    results = []
    for general in (False, True):
        n = neurons.make_neuron(kind, D=4, **n_kwargs)
        n.spike_driven = spike_driven
        if general:  # a tensor membrane takes SpikingJelly's path (zero tensor, β·v, stacks)
            n.v = torch.zeros(x.shape, dtype=torch.promote_types(dtype, torch.float32))
        xi = x.clone().requires_grad_(grad)
        with torch.set_grad_enabled(grad):
            y = n(xi)
            if grad and y.requires_grad:
                weights = torch.randn(y.shape, generator=torch.Generator().manual_seed(2)).to(dtype)
                ((y * weights).sum() + n.v.sum()).backward()
        results.append((y.detach(), n.v.detach(), xi.grad))
    return results


def test_fast_path_only_for_a_fresh_membrane():
    """Second step (membrane is a tensor) and store_v_seq take the general path; reset re-arms it."""
    x = torch.randn(3, 5, generator=torch.Generator().manual_seed(0)) * 3
    n, loop = neurons.TILIFNode(), neurons.TILIFNode(step_mode="m")
    steps = torch.stack([n(x), n(x)])
    assert torch.equal(steps, loop(torch.stack([x, x]))) and torch.equal(n.v, loop.v)
    n.reset()
    assert n.v == 0.0 and torch.equal(n(x), steps[0])
    recorded = neurons.TILIFNode(store_v_seq=True)
    recorded(x)
    recorded(x)
    assert recorded.v_seq.shape == (2, 3, 5)
