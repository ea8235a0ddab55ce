"""The compiled CPU decode step (models/csrc/mamba2_step.cpp) against the block's torch step.

Both run the same mixer on the same cache; the compiled step must equal the torch step up to float
summation order (the conv's products, the read-out C·h and the norm's mean), update the conv window
exactly and the SSM state to rounding, cover every variant of the block (groups, gate order, no
norm, per-channel D, no conv bias, a Δ limit, batch > 1), and step aside where it does not apply.
"""

import contextlib
import shutil
import warnings
from unittest import mock

import pytest
import torch
from torch.utils.cpp_extension import is_ninja_available
from torch.utils.flop_counter import FlopCounterMode

from models import SpikingMambaForCausalLM, kernels
from models.configuration import SpikingMambaConfig
from models.mamba2 import Mamba2Mixer

VARIANTS = {
    "one group": {},
    "two groups": dict(ngroups=2),
    "norm before gate": dict(ngroups=2, norm_before_gate=True),
    "no norm": dict(rmsnorm=False),
    "per-channel D": dict(D_has_hdim=True),
    "no conv bias": dict(conv_bias=False),
    "dt limit": dict(dt_limit=(0.01, 0.1)),
}


@pytest.fixture(scope="module", autouse=True)
def compiled():
    """The compiled step must build where g++ and ninja exist (a failed build fails these tests)."""
    if shutil.which("g++") is None or not is_ninja_available():
        pytest.skip("g++ or ninja not found: the compiled CPU step cannot be built")
    assert kernels._step_module() is not None, "the compiled CPU step failed to build (see the StepKernelWarning)"


def mixer(seed=0, **overrides) -> Mamba2Mixer:
    config = SpikingMambaConfig(d_model=32, n_layer=1, d_state=16, headdim=8, vocab_size=64, **overrides)
    torch.manual_seed(seed)
    m = Mamba2Mixer(config, 0).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    return m


def cache(m: Mamba2Mixer, batch: int, seed=1):
    g = torch.Generator().manual_seed(seed)
    conv = torch.randn(batch, m.conv_dim, m.conv1d.weight.shape[-1], generator=g)
    ssm = torch.randn(batch, m.nheads, m.headdim, m.d_state, generator=g)
    return conv, ssm


def steps(m: Mamba2Mixer, batch: int, tokens: int = 4, compiled_step: bool = True):
    """`tokens` decoded tokens from one random cache: outputs [tokens, B, 1, d_model] and the final cache."""
    conv, ssm = cache(m, batch)
    u = torch.randn(tokens, batch, 1, m.in_proj.in_features, generator=torch.Generator().manual_seed(2))
    with torch.no_grad(), contextlib.nullcontext() if compiled_step else torch_step():
        if compiled_step:
            assert kernels.cpu_step(u[0, :, 0].new_empty(batch, m.in_proj.out_features), conv, ssm) is not None
        outs = [m.forward_step(x, conv, ssm) for x in u]
    return torch.stack(outs), conv, ssm


def torch_step():
    """The block's torch step instead of the compiled one (as where it cannot be built)."""
    return mock.patch.object(kernels, "cpu_step", lambda *args: None)


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_compiled_step_equals_the_torch_step(variant, batch):
    m = mixer(**VARIANTS[variant])
    out, conv, ssm = steps(m, batch)
    ref_out, ref_conv, ref_ssm = steps(m, batch, compiled_step=False)
    assert torch.equal(conv, ref_conv)                       # the window shift is a copy
    torch.testing.assert_close(ssm, ref_ssm, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
    assert not torch.equal(ssm, cache(m, batch)[1])          # the state did move


def test_decoding_a_model_is_unchanged(teacher_dir, ids):
    """Greedy tokens and every decoded logit of a teacher and a TI-LIF student, compiled step vs torch step."""
    for neuron in ("none", "tilif"):
        model = SpikingMambaForCausalLM.from_pretrained(teacher_dir, neuron=neuron, sgc_layers=[])
        greedy = lambda: model.generate(ids[:, :5], max_new_tokens=10, do_sample=False,  # noqa: E731
                                        output_logits=True, return_dict_in_generate=True)
        compiled_tokens = greedy()
        with torch_step():
            torch_tokens = greedy()
        assert torch.equal(compiled_tokens.sequences, torch_tokens.sequences), neuron
        torch.testing.assert_close(torch.stack(compiled_tokens.logits), torch.stack(torch_tokens.logits),
                                   rtol=1e-5, atol=1e-5)


def test_the_step_applies_to_float32_cpu_decoding_only():
    m = mixer()
    conv, ssm = cache(m, 1)
    z = torch.zeros(1, m.in_proj.out_features)
    with torch.no_grad():
        assert kernels.cpu_step(z, conv, ssm) is not None
        assert kernels.cpu_step(z.bfloat16(), conv.bfloat16(), ssm) is None         # another dtype
        assert kernels.cpu_step(z, conv.transpose(1, 2).contiguous().transpose(1, 2), ssm) is None  # strided cache
    assert kernels.cpu_step(z, conv, ssm) is None                                    # autograd: training
    with torch.no_grad(), FlopCounterMode(display=False):
        assert kernels.cpu_step(z, conv, ssm) is None                                # an op counter watching


def test_a_failed_build_warns_once_and_decodes_with_the_torch_step(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("simulated: no C++ compiler")

    m = mixer()
    ref_out, _, _ = steps(m, 1, compiled_step=False)
    monkeypatch.setattr(kernels, "load_cpu_extension", broken)
    kernels._step_module.cache_clear()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            conv, ssm = cache(m, 1)
            u = torch.randn(4, 1, 1, m.in_proj.in_features, generator=torch.Generator().manual_seed(2))
            with torch.no_grad():
                out = torch.stack([m.forward_step(x, conv, ssm) for x in u])
        messages = [str(c.message) for c in caught if issubclass(c.category, kernels.StepKernelWarning)]
        assert len(messages) == 1 and "simulated: no C++ compiler" in messages[0]
        assert torch.equal(out, ref_out)
    finally:
        kernels._step_module.cache_clear()
