"""CUDA kernel selection, tested on CPU with fake mamba_ssm / causal_conv1d modules.

The fakes are transformers' own plain-PyTorch fallbacks of the same functions (same argument
contracts as the real kernels), so routing the block through them checks our call plumbing against
code nobody here wrote. The real kernels need a GPU and were not run here.
"""

import sys
import types

import pytest
import torch
from transformers.models.mamba2 import modeling_mamba2 as tm

from models import kernels



def fake_rmsnorm_fn(x, weight, bias, z=None, eps=1e-6, group_size=None, norm_before_gate=True):
    """mamba_ssm.ops.triton.layernorm_gated.rmsnorm_fn, via transformers' MambaRMSNormGated."""
    assert bias is None and not norm_before_gate
    norm = tm.MambaRMSNormGated(x.shape[-1], group_size=group_size, eps=eps)
    norm.weight = weight
    return norm(x, z)


@pytest.fixture
def fake_kernels(monkeypatch):
    """Install counting fake kernel packages; yields {function name: call count}."""
    calls = {}

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return fn(*args, **kwargs)
        return wrapper

    funcs = {
        "mamba_ssm.ops.triton.ssd_combined": {"mamba_chunk_scan_combined": tm.mamba2_chunk_scan},
        "mamba_ssm.ops.triton.selective_state_update": {"selective_state_update": tm.mamba2_selective_state_update},
        "mamba_ssm.ops.triton.layernorm_gated": {"rmsnorm_fn": fake_rmsnorm_fn},
        "causal_conv1d": {"causal_conv1d_fn": tm.causal_conv1d_fn, "causal_conv1d_update": tm.causal_conv1d_update},
    }
    for parent in ("mamba_ssm", "mamba_ssm.ops", "mamba_ssm.ops.triton"):
        monkeypatch.setitem(sys.modules, parent, types.ModuleType(parent))
    for module, fns in funcs.items():
        mod = types.ModuleType(module)
        for name, fn in fns.items():
            setattr(mod, name, counted(name, fn))
        monkeypatch.setitem(sys.modules, module, mod)
    kernels.clear_cache()
    yield calls
    kernels.clear_cache()


def run(model, ids):
    """Full forward, then prefill + 3 decoded tokens; returns all logits."""
    with torch.no_grad():
        full = model(ids).logits
        out = model(ids[:, :-3], use_cache=True)
        steps = [model(ids[:, t:t + 1], cache_params=out.cache_params, use_cache=True).logits
                 for t in range(ids.shape[1] - 3, ids.shape[1])]
    return full, torch.cat([out.logits, *steps], dim=1)


def test_cpu_tensors_never_use_kernels(fake_kernels, teacher, ids):
    """mamba_ssm importable + CPU tensors: the plain-PyTorch path (transformers' failure mode)."""
    assert kernels.cuda_kernels(ids.float()) is None
    run(teacher, ids)
    assert fake_kernels == {}


def test_kernel_path_matches_torch_path(fake_kernels, monkeypatch, teacher, ids):
    reference = run(teacher, ids)
    monkeypatch.setattr(kernels, "on_cuda", lambda tensor: True)
    got = run(teacher, ids)
    assert set(fake_kernels) == {"mamba_chunk_scan_combined", "selective_state_update", "rmsnorm_fn",
                                 "causal_conv1d_fn", "causal_conv1d_update"}
    for a, b in zip(got, reference):
        assert (a - b).abs().max() <= 1e-5


def test_missing_packages_fall_back(monkeypatch, teacher, ids):
    for name in ("mamba_ssm", "causal_conv1d"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    kernels.clear_cache()
    monkeypatch.setattr(kernels, "on_cuda", lambda tensor: True)
    try:
        assert kernels.cuda_kernels(ids.float()) is None
        with torch.no_grad():
            teacher(ids)
    finally:
        kernels.clear_cache()
