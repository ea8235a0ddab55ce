"""neurons.event's integer form (Eq 4) and spike form (Eq 9), on the C++ kernels and the pure-torch
forms: equal to the dense W·q + b up to float summation order (exactly, with integer weights), over
empty / one-active / all-active / random inputs, negative counts, several rows, any weight layout,
with and without bias; the accumulate counter; what they refuse."""

import pytest
import torch
import torch.nn.functional as F
from event_cases import BACKENDS, assert_matches_dense, using
from hypothesis import given
from hypothesis import strategies as st
from neuron_cases import fuzz

from neurons import event
from neurons import functional as nf

LAYOUTS = ["column_major", "row_major", "strided"]


def make_weight(out_f: int, in_f: int, layout: str, g: torch.Generator, integer: bool = False,
                dtype=torch.float32) -> torch.Tensor:
    """[out, in]: column-major (the decode layout, stride(0) = 1), row-major (stride(0) = in: the
    kernels' strided loop), or every other column of a taller column-major matrix (stride(0) = 1,
    stride(1) > out)."""
    if layout == "strided":
        big = make_weight(out_f + 5, 2 * in_f, "column_major", g, integer, dtype)
        return big[2:2 + out_f, ::2]
    w = torch.randint(-8, 9, (out_f, in_f), generator=g).float() if integer else torch.randn(out_f, in_f, generator=g)
    w = w.to(dtype)
    return w.t().contiguous().t() if layout == "column_major" else w


def make_counts(rows: int, in_f: int, case: str, D: int, g: torch.Generator) -> torch.Tensor:
    """[rows, in] integer counts in −D..D: no active column, one per row, all active, or random."""
    q = torch.randint(-D, D + 1, (rows, in_f), generator=g).float()
    if case == "empty":
        return torch.zeros(rows, in_f)
    if case == "one":
        one = torch.zeros(rows, in_f)
        columns = torch.randint(0, in_f, (rows,), generator=g)
        one[torch.arange(rows), columns] = torch.where(q[:, 0] == 0, -1.0, q[:, 0])
        return one
    if case == "all":
        return torch.where(q == 0, float(D), q)
    return q * (torch.rand(rows, in_f, generator=g) < 0.4)


shapes = st.tuples(st.integers(1, 5), st.integers(1, 70), st.integers(1, 70))  # rows, in, out
cases = st.sampled_from(["empty", "one", "all", "random"])


@pytest.mark.parametrize("backend", BACKENDS)
@fuzz(120)
@given(shapes, cases, st.sampled_from(LAYOUTS), st.booleans(), st.integers(1, 4), st.integers(0, 2**31))
def test_integer_form_equals_dense(backend, shape, case, layout, with_bias, D, seed):
    rows, in_f, out_f = shape
    g = torch.Generator().manual_seed(seed)
    q = make_counts(rows, in_f, case, D, g)
    with using(backend), torch.inference_mode():
        for integer in (False, True):
            w = make_weight(out_f, in_f, layout, g, integer)
            b = (torch.randint(-8, 9, (out_f,), generator=g).float() if integer else torch.randn(out_f, generator=g)
                 ) if with_bias else None
            y = event.event_linear(q, w, b)
            assert_matches_dense(y, q, w, b)
            if integer:  # every partial sum is an exact integer: any summation order gives the same
                assert torch.equal(y, F.linear(q, w, b))


@pytest.mark.parametrize("backend", BACKENDS)
@fuzz(120)
@given(shapes, st.sampled_from(["lif", "ilif", "tilif"]), st.integers(1, 4), st.sampled_from(LAYOUTS), st.booleans(),
       st.booleans(), st.integers(0, 2**31))
def test_spike_form_equals_integer_form(backend, shape, kind, D, layout, with_bias, mixed_signs, seed):
    """Eq 9 on a node's signed micro-step spikes equals the integer form on their sum; also for
    arbitrary {−1, 0, 1} planes (a column with events of both signs in one row)."""
    rows, in_f, out_f = shape
    D = 1 if kind == "lif" else D
    g = torch.Generator().manual_seed(seed)
    if mixed_signs:
        spikes = torch.randint(-1, 2, (D, rows, in_f), generator=g).float()
    else:
        h = torch.randn(rows, in_f, generator=g) * (D + 1)
        spikes = nf.signed_spikes(*nf.micro_step_spikes(h, kind, D))
    q = spikes.sum(0)
    with using(backend), torch.inference_mode():
        for integer in (False, True):
            w = make_weight(out_f, in_f, layout, g, integer)
            b = torch.randint(-8, 9, (out_f,), generator=g).float() if with_bias else None
            y = event.event_linear_spikes(spikes, w, b)
            assert_matches_dense(y, q, w, b)
            if integer:
                assert torch.equal(y, event.event_linear(q, w, b))


@pytest.mark.parametrize("backend", BACKENDS)
def test_several_rows_across_column_blocks(backend):
    """Rows > 1 visit the input columns in blocks of ~1 MiB of weights (8 columns here): every row
    still gets each of its events once, in both forms."""
    g = torch.Generator().manual_seed(0)
    out_f, in_f = 32768 + 3, 50
    w = make_weight(out_f, in_f, "column_major", g, integer=True)
    q = make_counts(3, in_f, "random", 4, g)
    spikes = nf.signed_spikes(*nf.micro_step_spikes(q, "tilif", 4))
    with using(backend), torch.inference_mode():
        assert torch.equal(event.event_linear(q, w), F.linear(q, w))
        assert torch.equal(event.event_linear_spikes(spikes, w), F.linear(q, w))


@pytest.mark.parametrize("backend", BACKENDS)
def test_accumulate_counter_is_abs_q_times_out_features(backend):
    """counter += Σ|q| · out_features: one accumulation per (spike event, output feature), whichever form."""
    g = torch.Generator().manual_seed(1)
    w = make_weight(37, 29, "column_major", g)
    q = make_counts(3, 29, "random", 4, g)
    spikes = nf.signed_spikes(*nf.micro_step_spikes(q, "tilif", 4))
    expected = int(q.abs().sum()) * 37
    assert expected > 0
    with using(backend), torch.inference_mode():
        counter = torch.zeros((), dtype=torch.int64)
        event.event_linear(q, w, counter=counter)
        assert int(counter) == expected
        event.event_linear_spikes(spikes, w, counter=counter)
        assert int(counter) == 2 * expected
        event.event_linear(torch.zeros(2, 29), w, counter=counter)
        assert int(counter) == 2 * expected


@pytest.mark.parametrize("backend", BACKENDS)
def test_shapes_and_dtypes_of_the_result(backend):
    g = torch.Generator().manual_seed(2)
    w = make_weight(6, 5, "column_major", g)
    q = make_counts(6, 5, "random", 4, g)
    with using(backend), torch.inference_mode():
        assert event.event_linear(q[0], w).shape == (6,)
        assert event.event_linear(q.view(2, 3, 5), w).shape == (2, 3, 6)
        torch.testing.assert_close(event.event_linear(q.view(2, 3, 5), w), F.linear(q, w).view(2, 3, 6))
        assert event.event_linear_spikes(q[:1].sign(), w).shape == (6,)  # [D=1, in]
        # integer counts in bf16 / fp16 (exact) give the fp32 weight's result
        torch.testing.assert_close(event.event_linear(q.bfloat16(), w), event.event_linear(q, w))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_bf16_fp16_weights_within_their_bound(dtype, layout):
    """Non-float32 weights take the pure-torch forms; error ≤ 4u of Σ|q_j W_ij| + |b_i| (event_cases)."""
    g = torch.Generator().manual_seed(3)
    w = make_weight(300, 700, layout, g, dtype=dtype)
    b = torch.randn(300, generator=g).to(dtype)
    q = make_counts(2, 700, "random", 4, g).to(dtype)
    spikes = nf.signed_spikes(*nf.micro_step_spikes(q, "tilif", 4))
    with torch.inference_mode():
        assert_matches_dense(event.event_linear(q, w, b), q, w, b)
        assert_matches_dense(event.event_linear_spikes(spikes, w, b), q, w, b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_refuses_bad_spikes_autograd_devices_and_shapes(backend):
    w = torch.randn(4, 3)
    with using(backend):
        with torch.inference_mode(), pytest.raises(ValueError, match=r"\{-1, 0, 1\}"):
            event.event_linear_spikes(torch.tensor([[[0.0, 2.0, 1.0]]]), w)
        with pytest.raises(RuntimeError, match="no autograd"):
            event.event_linear(torch.ones(1, 3), w.requires_grad_())
        with torch.no_grad():
            with pytest.raises(ValueError, match="CPU tensors only"):
                event.event_linear(torch.ones(1, 3, device="meta"), torch.ones(4, 3, device="meta"))
            with pytest.raises(ValueError, match="does not match"):
                event.event_linear(torch.ones(1, 5), w)
            with pytest.raises(ValueError, match="bias must be"):
                event.event_linear(torch.ones(1, 3), w, torch.ones(3))
            with pytest.raises(ValueError, match="counter must be"):
                event.event_linear(torch.ones(1, 3), w, counter=torch.zeros(1))
