"""Shared pieces of the event-path tests: the float64 reference, its error bound, the backends."""

import contextlib
import shutil
from unittest import mock

import pytest
import torch
from torch.utils.cpp_extension import is_ninja_available

# Unit roundoff of the weight dtypes; float32 is held to the 1e-5.
ROUNDOFF = {torch.float32: None, torch.bfloat16: 2.0**-9, torch.float16: 2.0**-11}


def tolerance(dtype: torch.dtype) -> float:
    """Allowed |y − y_ref| relative to Σ_j |q_j W_ij| + |b_i| (neurons/event.py docstring): fp32 1e-5;
    bf16 / fp16 (pure-torch sums, float32 inside, rounded to the dtype): 4 roundings, 4u."""
    return 1e-5 if dtype == torch.float32 else 4 * ROUNDOFF[dtype]


def assert_matches_dense(y, q, weight, bias=None, scale=1.0):
    """y [*, out] against scale · W q + b in float64, elementwise within tolerance(weight.dtype) of
    Σ_j |scale q_j W_ij| + |b_i| (exact where that is 0)."""
    assert y.dtype == weight.dtype and y.shape == (*q.shape[:-1], weight.shape[0])
    w, qq = weight.double(), q.double() * scale
    ref = qq @ w.t()
    size = qq.abs() @ w.abs().t()
    if bias is not None:
        ref, size = ref + bias.double(), size + bias.double().abs()
    err = (y.double() - ref).abs()
    bound = tolerance(weight.dtype) * size
    assert bool((err <= bound).all()), f"max error {float(err.max()):.3g}, worst ratio {float((err / size).nan_to_num().max()):.3g}"


BACKENDS = ["cpp", "torch"]


@contextlib.contextmanager
def using(backend: str):
    """neurons.event on its C++ kernels (which must build where g++ and ninja exist: a failed build
    fails the test) or on its pure-torch forms (as where no compiler exists)."""
    from neurons import event

    if backend == "torch":
        with mock.patch.object(event, "kernels", lambda: None):
            assert event.event_backend() == "torch"
            yield
        return
    if shutil.which("g++") is None or not is_ninja_available():
        pytest.skip("g++ or ninja not found: the C++ event kernels cannot be built")
    assert event.kernels() is not None, "the C++ event kernels failed to build (see the EventKernelWarning)"
    yield
