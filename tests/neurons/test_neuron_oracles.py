"""Our neurons against SpikingJelly's own: LIFNode, ILIFNode, SpikeCountToBinary, TemporalBinSum."""

import pytest
import torch
from spikingjelly.activation_based import functional as sjf
from spikingjelly.activation_based import layer, neuron, surrogate

import neurons
from neurons import functional as nf

T, SHAPE = 5, (16, 24)


def run(node, x_seq: torch.Tensor, step_mode: str) -> torch.Tensor:
    """Forward x_seq [T, N, *] through node in 'm' mode or as a loop of 's' steps."""
    sjf.set_step_mode(node, step_mode)
    sjf.reset_net(node)
    if step_mode == "m":
        return node(x_seq)
    return torch.stack([node(x) for x in x_seq])


def compare(ours, theirs, x_seq, step_mode, exact):
    """Outputs, final membrane and input gradients of two nodes on the same input."""
    xa, xb = x_seq.clone().requires_grad_(), x_seq.clone().requires_grad_()
    ya, yb = run(ours, xa, step_mode), run(theirs, xb, step_mode)
    weights = torch.randn(ya.shape, generator=torch.Generator().manual_seed(1))
    ((ya * weights).sum() + ours.v.sum()).backward()
    ((yb * weights).sum() + theirs.v.sum()).backward()
    assert torch.equal(ya, yb)
    assert ya.abs().sum() > 0  # the comparison is not vacuous
    if exact:
        assert torch.equal(ours.v, theirs.v) and torch.equal(xa.grad, xb.grad)
    else:  # SpikingJelly's 's' path charges as v − v/τ + x instead of (1 − 1/τ)·v + x
        torch.testing.assert_close(ours.v, theirs.v, rtol=1e-6, atol=1e-5)
        torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-6, atol=1e-5)
    assert xa.grad.abs().sum() > 0


@pytest.mark.parametrize("step_mode", ["s", "m"])
@pytest.mark.parametrize("D,beta,v_threshold", [(4, 0.25, 1.0), (1, 0.5, 1.0), (7, 0.25, 0.5), (3, 0.75, 2.0)])
def test_ilif_equals_spikingjelly_ilif(step_mode, D, beta, v_threshold):
    """Random real inputs have no exact ties k + ½, where the two roundings differ (tested below)."""
    x_seq = torch.randn(T, *SHAPE, generator=torch.Generator().manual_seed(D)) * 2 * D * v_threshold
    ours = neurons.ILIFNode(D=D, beta=beta, v_threshold=v_threshold)
    theirs = neuron.ILIFNode(
        tau=1 / (1 - beta), v_threshold=v_threshold, surrogate_function=surrogate.MultiLevelSpikeCount(D)
    )
    compare(ours, theirs, x_seq, step_mode, exact=step_mode == "m")


@pytest.mark.parametrize("step_mode", ["s", "m"])
@pytest.mark.parametrize("beta,v_threshold", [(0.25, 1.0), (0.5, 2.0), (0.9, 1.0)])
def test_lif_equals_spikingjelly_lif(step_mode, beta, v_threshold):
    """Our LIF (α = 1) is SJ's LIFNode(decay_input=False, v_reset=None) with Rect(alpha=1/V_th)."""
    x_seq = torch.randn(T, *SHAPE, generator=torch.Generator().manual_seed(7)) * v_threshold
    ours = neurons.LIFNode(beta=beta, v_threshold=v_threshold)
    theirs = neuron.LIFNode(
        tau=1 / (1 - beta),
        decay_input=False,
        v_reset=None,
        v_threshold=v_threshold,
        surrogate_function=surrogate.Rect(alpha=1 / v_threshold),
    )
    compare(ours, theirs, x_seq, step_mode, exact=False)


def test_membrane_sequence_equals_spikingjelly():
    x_seq = torch.randn(T, *SHAPE, generator=torch.Generator().manual_seed(3)) * 4
    ours = neurons.ILIFNode(D=4, step_mode="m", store_v_seq=True)
    theirs = neuron.ILIFNode(step_mode="m", store_v_seq=True)  # SJ defaults: tau 4/3 (β = 0.25), D = 4
    assert torch.equal(ours(x_seq), theirs(x_seq))
    assert ours.v_seq.shape == (T, *SHAPE) and torch.equal(ours.v_seq, theirs.v_seq)


def test_rounding_ties_half_away_from_zero_vs_spikingjelly_half_to_even():
    """The documented difference: at exact ties k + ½ we round away from zero, SJ to even."""
    x = torch.tensor([0.5, 1.5, 2.5, 3.5, 0.49999997, 2.5000002, 1.0, 4.5])
    ours = neurons.ILIFNode(D=4)(x)
    theirs = neuron.ILIFNode(surrogate_function=surrogate.MultiLevelSpikeCount(4))(x)
    assert ours.tolist() == [1, 2, 3, 4, 0, 3, 1, 4]
    assert theirs.tolist() == [0, 2, 2, 4, 0, 3, 1, 4]


@pytest.mark.parametrize("beta", [0.25, 0.5])
def test_tilif_on_non_negative_input_equals_ilif(beta):
    """For x ≥ 0 and β < 1 the residual membrane stays above −½·V_th, so TI-LIF never goes negative:
    same outputs and membranes as I-LIF over T steps, and same gradients where h ≥ 0 (T = 1)."""
    x_seq = torch.rand(T, *SHAPE, generator=torch.Generator().manual_seed(5)) * 6
    for spike_driven in (False, True):
        ilif, tilif = neurons.ILIFNode(D=4, beta=beta, step_mode="m"), neurons.TILIFNode(D=4, beta=beta, step_mode="m")
        ilif.spike_driven = tilif.spike_driven = spike_driven
        assert torch.equal(ilif(x_seq), tilif(x_seq)) and torch.equal(ilif.v, tilif.v)
    xa, xb = x_seq[0].clone().requires_grad_(), x_seq[0].clone().requires_grad_()
    nf.quantize(xa, "ilif", 4).sum().backward()
    nf.quantize(xb, "tilif", 4).sum().backward()
    assert torch.equal(xa.grad, xb.grad)


@pytest.mark.parametrize("kind", ["lif", "ilif", "tilif"])
def test_multi_step_spike_layout_is_spikingjelly_count_to_binary(kind):
    """'m' spike-driven output [T·D, N, *] is SJ's SpikeCountToBinary of |s| (signed for TI-LIF), and
    SJ's TemporalBinSum of it gives back the integer-mode output."""
    D = 1 if kind == "lif" else 4
    x_seq = torch.randn(T, *SHAPE, generator=torch.Generator().manual_seed(11)) * 4
    node = neurons.make_neuron(kind, D=D, step_mode="m")
    counts = node(x_seq)
    sjf.reset_net(node)
    node.spike_driven = True
    spikes = node(x_seq)
    assert spikes.shape == (T * D, *SHAPE)
    to_binary = layer.SpikeCountToBinary(D, always_convert=True)
    assert torch.equal(spikes, to_binary(counts.abs()) * torch.repeat_interleave(counts.sign(), D, dim=0) + 0.0)
    assert torch.equal(layer.TemporalBinSum(D, always_convert=True)(spikes), counts)
