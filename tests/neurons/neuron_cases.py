"""Edge-case inputs for the neuron property tests (imported by the tests in this directory), and
whether the real CuPy backend can run here."""

import math

import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

DTYPES = [torch.float32, torch.bfloat16, torch.float16]
BITS = {torch.float32: torch.int32, torch.bfloat16: torch.int16, torch.float16: torch.int16}


def fuzz(max_examples: int) -> settings:
    """Deterministic (derandomized) property runs, so CI failures reproduce."""
    return settings(
        max_examples=max_examples, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
    )


def nudge(x: torch.Tensor, ulps: torch.Tensor) -> torch.Tensor:
    """Move each element by ``ulps`` units in the last place (adjacent floats), never into NaN."""
    bits = BITS[x.dtype]
    moved = (x.view(bits) + ulps.to(bits)).view(x.dtype)
    return torch.where(torch.isnan(moved), x, moved)


def edge_tensor(seed: int, D: int, dtype: torch.dtype, n: int = 256) -> torch.Tensor:
    """n values of dtype, each from one category — exact ties k + ½, integers (±D and beyond), uniform
    in [−D−3, D+3], log-uniform magnitudes 2^−150 … 2^110 (subnormals, huge, overflow to inf),
    specials (±0, ±inf, smallest subnormal, ±max, ±D), random bit patterns — then moved by −2…2 ulps."""
    g = torch.Generator().manual_seed(seed)
    uniform = lambda: torch.rand(n, generator=g, dtype=torch.float64)
    k = torch.randint(-D - 3, D + 3, (n,), generator=g).double()
    info = torch.finfo(dtype)
    specials = torch.tensor(
        [0.0, -0.0, math.inf, -math.inf, info.tiny * info.eps, -info.tiny * info.eps, info.max, -info.max, D, -D],
        dtype=torch.float64,
    )
    width = torch.iinfo(BITS[dtype]).bits
    random_bits = torch.randint(-(2 ** (width - 1)), 2 ** (width - 1), (n,), generator=g, dtype=BITS[dtype]).view(dtype)
    candidates = torch.stack(
        [
            (k + 0.5).to(dtype),
            k.to(dtype),
            ((2 * uniform() - 1) * (D + 3)).to(dtype),
            (torch.where(uniform() < 0.5, -1.0, 1.0) * 2.0 ** (uniform() * 260 - 150)).to(dtype),
            specials[torch.randint(len(specials), (n,), generator=g)].to(dtype),
            torch.where(torch.isnan(random_bits), torch.zeros((), dtype=dtype), random_bits),
        ]
    )
    x = candidates[torch.randint(len(candidates), (n,), generator=g), torch.arange(n)]
    return nudge(x, torch.randint(-2, 3, (n,), generator=g))


def edge_values(D: int):
    """A hypothesis strategy of (value, ulp nudge) pairs from the same categories, for shrinkable cases."""
    signed = lambda values: st.tuples(st.sampled_from(values), st.sampled_from([1.0, -1.0])).map(lambda p: p[0] * p[1])
    value = st.one_of(
        st.integers(-D - 3, D + 2).map(lambda k: k + 0.5),
        st.integers(-D - 3, D + 3).map(float),
        signed([2.0**11, 2.0**24 + 2, 65504.0, 1e30, 3.3e38, 2.0**-149, 1e-40, 2.0**-126, 2.0**-24, 1e-8]),
        st.sampled_from([0.0, -0.0, math.inf, -math.inf]),
        st.floats(-D - 3, D + 3),
    )
    return st.tuples(value, st.integers(-2, 2))


def edge_input(data, D: int, dtype: torch.dtype, seed: int, n: int = 256) -> torch.Tensor:
    """A few hypothesis-drawn edge values followed by n seeded ones, as one dtype tensor."""
    pairs = data.draw(st.lists(edge_values(D), max_size=8))
    drawn = torch.tensor([v for v, _ in pairs], dtype=torch.float64).to(dtype)
    drawn = nudge(drawn, torch.tensor([u for _, u in pairs], dtype=torch.int64))
    return torch.cat([drawn, edge_tensor(seed, D, dtype, n)])


def cupy_ready() -> bool:
    """A CUDA GPU and cupy are present (the ``gpu`` tests of the CuPy backend run)."""
    from neurons.cupy_backend import require_cupy

    try:
        require_cupy()
    except (RuntimeError, ImportError):
        return False
    return True
