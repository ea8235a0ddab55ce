"""The chunked SSD scan equals the token-by-token recurrence (Eq 18–19), for any chunking."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from models.mamba2 import causal_conv, causal_conv_step, ssd_chunked, ssd_step


def recurrence(x, dt, A, B, C, state):
    ys = []
    for t in range(x.shape[1]):
        ys.append(ssd_step(state, x[:, t], dt[:, t], A, B[:, t], C[:, t]))
    return torch.stack(ys, dim=1), state


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 2), length=st.integers(1, 19), groups=st.sampled_from([1, 2]),
       heads_per_group=st.integers(1, 2), headdim=st.integers(1, 4), d_state=st.integers(1, 5),
       chunk_size=st.integers(1, 8), with_state=st.booleans(), seed=st.integers(0, 2**16))
def test_chunked_scan_equals_recurrence(batch, length, groups, heads_per_group, headdim, d_state,
                                        chunk_size, with_state, seed):
    g = torch.Generator().manual_seed(seed)
    h = groups * heads_per_group
    x = torch.randn(batch, length, h, headdim, generator=g)
    dt = torch.rand(batch, length, h, generator=g) * 0.5
    A = -torch.rand(h, generator=g) * 4
    B, C = (torch.randn(batch, length, groups, d_state, generator=g) for _ in range(2))
    state0 = torch.randn(batch, h, headdim, d_state, generator=g) if with_state else None
    y, final = ssd_chunked(x, dt, A, B, C, chunk_size, state0)
    y_ref, final_ref = recurrence(x, dt, A, B, C, state0.clone() if with_state else
                                  torch.zeros(batch, h, headdim, d_state))
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(final, final_ref, atol=1e-5, rtol=1e-5)


@settings(max_examples=15, deadline=None)
@given(length=st.integers(1, 9), width=st.integers(1, 4), split=st.integers(0, 9), seed=st.integers(0, 2**16))
def test_conv_continuation_and_step_equal_whole_sequence(length, width, split, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, length, generator=g)
    weight, bias = torch.randn(3, 1, width, generator=g), torch.randn(3, generator=g)
    whole = causal_conv(x, weight, bias)
    split = min(split, length)
    state = torch.zeros(2, 3, width)
    parts = [causal_conv(x[..., :split], weight, bias, state)] if split else []
    parts += [causal_conv_step(x[..., t], weight, bias, state)[..., None] for t in range(split, length)]
    torch.testing.assert_close(torch.cat(parts, -1), whole, atol=1e-6, rtol=1e-6)
