"""SpikeDrivenLinear (Eq 4, Eq 9): spike-driven accumulation equals the dense projection of the
integer counts, the bias is added once per logical step, and ACs are counted."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from neuron_cases import fuzz

import neurons
from neurons import functional as nf
from neurons.linear import accumulate_events


def spike_driven_input(kind: str, D: int, shape, seed: int):
    """Integer counts q and the node's signed micro-step spikes [D, *shape] for the same input."""
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * (D + 1)
    q = nf.quantize(x, kind, D)
    return q, nf.signed_spikes(*nf.micro_step_spikes(x, kind, D))


def integer_weights(layer: neurons.SpikeDrivenLinear, seed: int) -> None:
    """Small integer weights and bias: every sum is exact, so any summation order gives equal results."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        layer.weight.copy_(torch.randint(-8, 9, layer.weight.shape, generator=g).float())
        layer.bias.copy_(torch.randint(-8, 9, layer.bias.shape, generator=g).float())


@fuzz(150)
@given(st.sampled_from(["lif", "ilif", "tilif"]), st.integers(1, 6), st.integers(1, 5), st.integers(1, 40), st.integers(0, 2**31))
def test_spike_driven_equals_dense(kind, D, rows, in_features, seed):
    D = 1 if kind == "lif" else D
    layer = neurons.SpikeDrivenLinear(in_features, 7)
    q, spikes = spike_driven_input(kind, D, (rows, in_features), seed)
    # random weights: equal up to float summation order
    torch.testing.assert_close(layer.forward_spikes(spikes), layer(q), rtol=1e-5, atol=1e-5)
    # integer weights: exactly equal, and equal to the literal event-list accumulation of Eq 9
    integer_weights(layer, seed)
    y = layer.forward_spikes(spikes)
    assert torch.equal(y, layer(q))
    assert torch.equal(y, accumulate_events(layer.weight, spikes) + layer.bias)


def test_sign_belongs_to_each_input_element():
    """Eq 9 with one sign bit per input element: y = W·s⁺ − W·s⁻, not a sign on the output."""
    layer = neurons.SpikeDrivenLinear(2, 1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[10.0, 1.0]]))
    q = torch.tensor([[2.0, -3.0]])  # 2·10 − 3·1 = 17
    spikes = nf.signed_spikes(*nf.micro_step_spikes(q, "tilif", 4))
    assert layer.forward_spikes(spikes).item() == 17.0
    assert accumulate_events(layer.weight, spikes).item() == 17.0


def test_bias_once_per_logical_step_and_ac_count():
    D, out_features = 4, 5
    layer = neurons.SpikeDrivenLinear(6, out_features)
    integer_weights(layer, 0)
    silent = torch.zeros(D, 3, 6)
    assert torch.equal(layer.forward_spikes(silent), layer.bias.expand(3, out_features))  # not D·b
    assert layer.ac_count == 0
    q, spikes = spike_driven_input("tilif", D, (3, 6), 1)
    layer.forward_spikes(spikes)
    expected = int(q.abs().sum()) * out_features
    assert expected > 0 and layer.ac_count == expected
    layer(q)  # the dense (training) path performs MACs, not ACs
    layer.forward_spikes(spikes)
    assert layer.ac_count == 2 * expected
    layer.reset_ac_count()
    assert layer.ac_count == 0


def test_multi_step_node_output_feeds_forward_spikes():
    """A node's 'm' spike-driven output [T·D, N, in], regrouped per logical step."""
    T, D = 3, 4
    x_seq = torch.randn(T, 2, 8, generator=torch.Generator().manual_seed(2)) * 3
    node = neurons.TILIFNode(D=D, step_mode="m")
    q_seq = node(x_seq)
    node.reset()
    node.spike_driven = True
    spikes = node(x_seq)
    layer = neurons.SpikeDrivenLinear(8, 3)
    integer_weights(layer, 3)
    y = layer.forward_spikes(spikes.unflatten(0, (T, D)).transpose(0, 1))
    assert torch.equal(y, layer(q_seq))


def test_is_an_nn_linear_with_unchanged_state_dict():
    dense = torch.nn.Linear(4, 3)
    layer = neurons.SpikeDrivenLinear(4, 3)
    layer.load_state_dict(dense.state_dict())
    assert set(layer.state_dict()) == {"weight", "bias"}
    x = torch.randn(2, 4)
    assert torch.equal(layer(x), dense(x))
    with pytest.raises(ValueError, match=r"\[D, \*, 4\]"):
        layer.forward_spikes(torch.zeros(2, 3))
