"""neurons.event.event_spike_project, the neuron + projection in one call: its counts q are bit for
bit the node's (functional.neuron_step at a fresh membrane) on edge cases (ties k + ½, D ± ½, ±0,
±inf, subnormals, every fp16 / bf16 pattern) in fp32 / bf16 / fp16, its y is V_th · W q + b in both
modes, NaN raises, and the accumulate counter counts Σ|q| · out_features."""

import pytest
import torch
from event_cases import BACKENDS, assert_matches_dense, using
from hypothesis import given
from hypothesis import strategies as st
from neuron_cases import BITS, DTYPES, edge_input, fuzz, nudge

from neurons import event
from neurons import functional as nf

KINDS = ["lif", "ilif", "tilif"]
V_TH = [1.0, 0.78, 1.6, 3.0]


def node_counts(x: torch.Tensor, kind: str, D: int, v_th: float) -> torch.Tensor:
    """What the node emits in integer mode from a fresh membrane (β plays no part there)."""
    return nf.neuron_step(x, None, kind, D, 0.25, v_th)[0]


def assert_same_bits(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    bits = BITS.get(a.dtype, torch.int64)  # float64: int64
    assert torch.equal(a.view(bits), b.view(bits)), (a, b)


@pytest.mark.parametrize("backend", BACKENDS)
@fuzz(150)
@given(st.data(), st.sampled_from(KINDS), st.sampled_from(DTYPES), st.sampled_from([1, 2, 4, 7]),
       st.sampled_from(V_TH), st.booleans(), st.integers(0, 2**31))
def test_counts_are_the_nodes_bit_for_bit(backend, data, kind, dtype, D, v_th, spike_driven, seed):
    x = edge_input(data, D, dtype, seed)
    x = x[: x.numel() // 2 * 2].view(2, -1)
    w = torch.randn(5, x.shape[1], generator=torch.Generator().manual_seed(seed)).t().contiguous().t()
    with using(backend), torch.inference_mode():
        _, q = event.event_spike_project(x, w, None, kind, D, v_th, spike_driven=spike_driven)
    assert_same_bits(q, node_counts(x, kind, D, v_th))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_counts_where_x_over_v_th_is_near_a_tie(backend, dtype):
    """x = (k + ½) · V_th and D · V_th rounded to the dtype, ± 3 ulps, for 60 thresholds: h = x / V_th
    lands on or next to a rounding tie or the clip, where only the node's own IEEE division (not,
    say, x · (1 / V_th)) gives the node's count."""
    g = torch.Generator().manual_seed(6)
    thresholds = [0.7, 0.78, 1.6, 3.0, *(0.05 + 8 * torch.rand(56, generator=g, dtype=torch.float64)).tolist()]
    D = 4
    k = torch.cat([torch.arange(-D - 2, D + 2, dtype=torch.float64) + 0.5, torch.tensor([-D, D], dtype=torch.float64)])
    w = torch.randn(3, 7 * len(k), generator=g)
    with using(backend), torch.inference_mode():
        for v_th in thresholds:
            base = (k * v_th).to(dtype)
            x = torch.cat([nudge(base, torch.full(base.shape, u)) for u in range(-3, 4)]).view(1, -1)
            for kind in KINDS:
                assert_same_bits(event.event_spike_project(x, w, None, kind, D, v_th)[1], node_counts(x, kind, D, v_th))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("kind", KINDS)
def test_every_16_bit_pattern(dtype, kind):
    """All 65536 patterns but NaN, at V_th = 1 and 0.78, on the C++ kernels."""
    x = torch.arange(-(2**15), 2**15, dtype=torch.int32).to(torch.int16).view(dtype)
    x = x[~torch.isnan(x)].view(1, -1)
    w = torch.ones(2, x.shape[1]).t().contiguous().t()
    with using("cpp"), torch.inference_mode():
        for v_th in (1.0, 0.78):
            assert_same_bits(event.event_spike_project(x, w, None, kind, 4, v_th)[1], node_counts(x, kind, 4, v_th))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("spike_driven", [False, True])
def test_output_is_v_th_times_the_projection_of_the_counts(backend, kind, spike_driven):
    """y = V_th · W q + b (models.mamba2.spike_project, T = 1); integer weights and V_th = 2: exact."""
    g = torch.Generator().manual_seed(4)
    x = torch.randn(3, 1, 200, generator=g) * 3
    for v_th, integer in ((0.78, False), (2.0, True)):
        w = torch.randn(70, 200, generator=g).t().contiguous().t()
        b = torch.randn(70, generator=g)
        if integer:
            w, b = w.round(), b.round()
        counter = torch.zeros((), dtype=torch.int64)
        with using(backend), torch.inference_mode():
            y, q = event.event_spike_project(x, w, b, kind, 4, v_th, spike_driven=spike_driven, counter=counter)
        assert_matches_dense(y, q, w, b, scale=v_th)
        if integer:
            assert torch.equal(y, (w @ q.unsqueeze(-1)).squeeze(-1) * v_th + b)
        assert int(counter) == int(q.abs().sum()) * 70 > 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_raises_and_counts_nothing(backend, dtype):
    x = torch.tensor([[0.3, float("nan"), 2.0]], dtype=dtype)
    counter = torch.zeros((), dtype=torch.int64)
    with using(backend), torch.inference_mode(), pytest.raises(ValueError, match="NaN"):
        event.event_spike_project(x, torch.randn(4, 3), None, "tilif", 4, 1.0, counter=counter)
    assert int(counter) == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_float64_input_and_bf16_weights_take_the_torch_forms(backend):
    """A float64 x (the node then works in float64) and bf16 weights: same counts, y within the bound."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 300, generator=g, dtype=torch.float64)
    w = torch.randn(40, 300, generator=g)
    with using(backend), torch.inference_mode():
        y, q = event.event_spike_project(x, w, None, "tilif", 4, 0.78)
        assert_same_bits(q, node_counts(x, "tilif", 4, 0.78))
        assert_matches_dense(y, q, w, None, scale=0.78)
        wb, xb = w.bfloat16(), x.bfloat16()
        y, q = event.event_spike_project(xb, wb, wb[:, 0].clone(), "ilif", 4, 0.78, spike_driven=True)
        assert_same_bits(q, node_counts(xb, "ilif", 4, 0.78))
        assert_matches_dense(y, q, wb, wb[:, 0], scale=0.78)


def test_D_limits_and_kinds_are_the_nodes():
    with torch.inference_mode():
        with pytest.raises(ValueError, match="D=257"):
            event.event_spike_project(torch.zeros(1, 3, dtype=torch.bfloat16), torch.zeros(2, 3), None, "tilif", 257,
                                      1.0)
        with pytest.raises(ValueError, match="kind must be one of"):
            event.event_spike_project(torch.zeros(1, 3), torch.zeros(2, 3), None, "relu", 4, 1.0)


def test_a_kind_the_cpp_kernels_do_not_know_takes_the_torch_forms(monkeypatch):
    """A new neuron kind is a row of neurons/kinds.py and its node (issue 12): until the C++ kernels learn it
    (KIND_CODES), the event path computes it with the torch forms — same counts, same projection."""
    g = torch.Generator().manual_seed(6)
    x, w = torch.randn(2, 300, generator=g) * 2, torch.randn(40, 300, generator=g)
    monkeypatch.setattr(event, "KIND_CODES", {k: v for k, v in event.KIND_CODES.items() if k != "ilif"})
    with torch.inference_mode():
        y, q = event.event_spike_project(x, w, None, "ilif", 4, 0.78)
    assert_same_bits(q, node_counts(x, "ilif", 4, 0.78))
    assert_matches_dense(y, q, w, None, scale=0.78)
