"""Property tests of the functional forms: the rounding convention against exact rational arithmetic,
bit-exact reconstruction of the integer output from micro-step spikes × sign (Eq 7–9), the
surrogate window and α (Eq 6), NaN handling — over ties, their neighbours, ±D and beyond, huge
values, ±0.0, subnormals and ±inf in fp32 / bf16 / fp16."""

import math
from fractions import Fraction

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from neuron_cases import BITS, DTYPES, edge_input, fuzz

from neurons import functional as nf

VALUES_PER_CASE = 256


def reference_count(value: float, kind: str, D: int) -> float:
    """The documented convention in exact rational arithmetic: round half away from zero, clip."""
    if kind == "lif":
        return 1.0 if value >= 1 else 0.0
    if kind == "ilif" and not value > 0:
        return 0.0
    magnitude = abs(value)
    if math.isinf(magnitude):
        count = D
    else:
        exact = Fraction(magnitude)
        whole = math.floor(exact)
        count = min(whole + (exact - whole >= Fraction(1, 2)), D)
    return float(-count if value < 0 else count)


def reference_window(value: float, kind: str, D: int) -> bool:
    if kind == "lif":
        return 0.5 < value < 1.5
    return (0 if kind == "ilif" else -D) <= value <= D


kinds = st.sampled_from(["lif", "ilif", "tilif"])
small_D = st.integers(1, 9)


seeds = st.integers(0, 2**32 - 1)


@fuzz(1200)
@given(st.data(), kinds, st.sampled_from(DTYPES), st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 255]), seeds)
def test_integer_output_and_exact_reconstruction(data, kind, dtype, D, seed):
    """Each case: up to 8 hypothesis-drawn edge values + VALUES_PER_CASE seeded ones."""
    x = edge_input(data, D, dtype, seed, VALUES_PER_CASE)
    q = nf.quantize(x, kind, D)
    spikes, sign = nf.micro_step_spikes(x, kind, D)
    D_eff = 1 if kind == "lif" else D
    assert q.dtype == spikes.dtype == sign.dtype == dtype
    assert q.shape == sign.shape == x.shape and spikes.shape == (D_eff, *x.shape)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0} and set(sign.unique().tolist()) <= {0.0, 1.0}
    # the rounding convention, checked in exact arithmetic; zero counts are +0.0
    expected = torch.tensor([reference_count(v, kind, D_eff) for v in x.tolist()], dtype=dtype)
    assert torch.equal(q.view(BITS[dtype]), expected.view(BITS[dtype])), (x, q, expected)
    # Eq 9: binary micro-step spikes and one sign bit per element reconstruct q bit for bit
    signed = nf.signed_spikes(spikes, sign)
    assert torch.equal(signed.sum(0).view(BITS[dtype]), q.view(BITS[dtype]))
    assert torch.equal(torch.signbit(signed), signed < 0)  # no −0.0 among the signed spikes either
    assert torch.equal(spikes.sum(0), q.abs())  # exactly |q| spikes, each sign bit applies to all
    # micro-steps fire first, then stay silent (thermometer code, SJ SpikeCountToBinary order)
    assert torch.equal(spikes, spikes.cummin(0).values)


@fuzz(600)
@given(st.data(), kinds, st.sampled_from(DTYPES), small_D, st.floats(1e-3, 1e3), seeds)
def test_surrogate_gradient_window_and_alpha(data, kind, dtype, D, alpha, seed):
    """Eq 6: ∂s/∂h = α on [−D, D] (I-LIF [0, D], LIF ½ < h < 3/2), 0 elsewhere, ±inf included."""
    x = edge_input(data, D, dtype, seed, VALUES_PER_CASE).requires_grad_()
    nf.quantize(x, kind, D, alpha).sum().backward()
    a = torch.tensor(alpha, dtype=dtype).item()
    D_eff = 1 if kind == "lif" else D
    expected = torch.tensor([a if reference_window(v, kind, D_eff) else 0.0 for v in x.tolist()], dtype=dtype)
    assert torch.equal(x.grad, expected)


@pytest.mark.parametrize("kind", ["lif", "ilif", "tilif"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_input_raises_in_both_modes(kind, dtype):
    x = torch.tensor([0.3, float("nan"), 2.0], dtype=dtype)
    with pytest.raises(ValueError, match="NaN"):
        nf.quantize(x, kind, 4)
    with pytest.raises(ValueError, match="NaN"):
        nf.micro_step_spikes(x, kind, 4)
    with pytest.raises(ValueError, match="NaN"):
        nf.neuron_step(x, torch.zeros(3), kind, 4 if kind != "lif" else 1, 0.25, 1.0)


@pytest.mark.parametrize("dtype,limit", [(torch.bfloat16, 256), (torch.float16, 2048)])
def test_D_beyond_the_dtype_exact_integers_raises(dtype, limit):
    x = torch.tensor([limit + 0.0], dtype=dtype)
    assert nf.quantize(x, "ilif", limit).item() == limit
    with pytest.raises(ValueError, match=f"D={limit + 1}.*{limit}"):
        nf.quantize(x, "ilif", limit + 1)
    with pytest.raises(ValueError, match="floating-point"):
        nf.quantize(torch.tensor([1, 2]), "ilif", 4)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "4", None])
def test_functional_rejects_bad_D(bad):
    with pytest.raises(ValueError, match="D must be an integer >= 1"):
        nf.quantize(torch.zeros(2), "tilif", bad)
    with pytest.raises(ValueError, match="D must be an integer >= 1"):
        nf.micro_step_spikes(torch.zeros(2), "ilif", bad)


def test_functional_rejects_bad_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        nf.quantize(torch.zeros(2), "relu", 4)
