"""Students: neurons before in_proj / out_proj (§4.1), integer vs spike-driven modes, SGC (§4.2)."""

import pytest
import torch

from models import SpikingMambaForCausalLM
from models.sgc import hidden_alignment_loss
from models.sgc import is_sgc_key

KINDS = ["lif", "ilif", "tilif"]


def student(teacher_dir, **kwargs):
    return SpikingMambaForCausalLM.from_pretrained(teacher_dir, **kwargs)


def test_student_layout(teacher_dir):
    m = student(teacher_dir, neuron_in="tilif", neuron_out="ilif", D=3)  # SGC on the TI-LIF side only
    names = dict(m.named_modules())
    from neurons import ILIFNode, SpikeDrivenLinear, TILIFNode
    for i in range(m.config.n_layer):
        mixer = f"backbone.layers.{i}.mixer"
        assert isinstance(names[f"{mixer}.in_proj.neuron"], TILIFNode) and names[f"{mixer}.in_proj.neuron"].D == 3
        assert isinstance(names[f"{mixer}.out_proj.neuron"], ILIFNode)
        assert isinstance(names[f"{mixer}.in_proj"], SpikeDrivenLinear)
        assert isinstance(names[f"{mixer}.out_proj"], SpikeDrivenLinear)
    assert m.config.sgc_layers == [0, 1, 2]  # first, middle, last of 3 blocks
    assert m.config.sgc_sides == ["in"]
    assert all(l.mixer.in_proj.sgc is not None and l.mixer.out_proj.sgc is None for l in m.backbone.layers)
    assert not any("neuron" in n for n, _ in student(teacher_dir).named_modules())  # the teacher has none


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("T", [1, 2])
def test_spike_driven_logits_equal_integer_mode(kind, T, teacher_dir, ids):
    m = student(teacher_dir, neuron=kind, T=T, v_threshold=0.5)
    with torch.no_grad():
        integer = m(ids).logits
        spikes = m.set_spike_driven(True)(ids).logits
        back = m.set_spike_driven(False)(ids).logits
    torch.testing.assert_close(spikes, integer, atol=1e-4, rtol=0)
    assert torch.equal(back, integer)
    ac = sum(mod.ac_count for n, mod in m.named_modules() if n.endswith("_proj"))
    assert ac > 0  # the spike-driven pass accumulated weight columns


def test_spike_driven_generate_equals_integer_generate(teacher_dir, ids):
    m = student(teacher_dir, neuron="tilif")
    integer = m.generate(ids[:, :4], max_new_tokens=6, do_sample=False)
    spikes = m.set_spike_driven(True).generate(ids[:, :4], max_new_tokens=6, do_sample=False)
    assert torch.equal(integer, spikes)


def test_neuron_quantises_the_projection_input(teacher_dir, ids):
    """The in_proj input is the integer count in units of V_th: y = V_th · W q(x / V_th)."""
    m = student(teacher_dir, neuron_in="tilif", neuron_out="none", v_threshold_in=0.25, D=2)
    seen = {}
    m.backbone.layers[0].mixer.in_proj.neuron.register_forward_hook(lambda mod, args, out: seen.update(q=out))
    with torch.no_grad():
        m(ids)
    q = seen["q"]
    assert torch.equal(q, q.round()) and q.abs().max() <= 2 and (q < 0).any()


def test_sgc_does_not_change_the_forward_output(teacher_dir, ids):
    with_sgc = student(teacher_dir, neuron="tilif").train()
    without = student(teacher_dir, neuron="tilif", sgc_layers=[]).train()
    out = with_sgc(ids)
    assert torch.equal(out.logits, without(ids).logits)
    assert out.loss_hidden > 0 and without(ids).loss_hidden == 0
    assert with_sgc.eval()(ids).loss_hidden == 0  # absent in eval mode


def test_sgc_branch_starts_from_the_projection(teacher_dir):
    m = student(teacher_dir, neuron="tilif")
    mixer = m.backbone.layers[1].mixer
    assert torch.equal(mixer.in_proj.sgc.weight, mixer.in_proj.weight)
    assert mixer.in_proj.sgc.weight.data_ptr() != mixer.in_proj.weight.data_ptr()


def test_hidden_alignment_loss_is_eq10():
    """1/(2T) Σ_t ‖softmax(y_t) − softmax(y′_t)‖², averaged over the batch; mask drops padding."""
    y, y2 = torch.randn(2, 3, 5), torch.randn(2, 3, 5)
    expected = sum(0.5 * ((y[b, t].softmax(0) - y2[b, t].softmax(0)) ** 2).sum() for b in range(2) for t in range(3)) / 6
    torch.testing.assert_close(hidden_alignment_loss(y, y2), expected)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    masked = sum(0.5 * ((y[b, t].softmax(0) - y2[b, t].softmax(0)) ** 2).sum() for b, t in [(0, 0), (0, 1), (1, 0)]) / 3
    torch.testing.assert_close(hidden_alignment_loss(y, y2, mask), masked)
    assert hidden_alignment_loss(y, y) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_student_trains(kind, teacher_dir, ids):
    """Every parameter gets a gradient; TI-LIF students train with SGC by default (W′ moves), LIF and
    I-LIF students without (the paper's Tables 2 and 5)."""
    m = student(teacher_dir, neuron=kind).train()
    sgc = kind == "tilif"
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    for step in range(3):
        out = m(ids, labels=ids)
        loss = out.loss + out.loss_hidden
        assert torch.isfinite(out.loss) and torch.isfinite(out.loss_hidden) and (out.loss_hidden > 0) == sgc
        opt.zero_grad()
        loss.backward()
        if step == 0:
            dead = [n for n, p in m.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
            assert dead == [], f"no gradient reaches {dead}"
            assert any(is_sgc_key(n) for n, _ in m.named_parameters()) == sgc
        opt.step()
    if sgc:
        assert not torch.equal(m.backbone.layers[0].mixer.in_proj.sgc.weight, m.backbone.layers[0].mixer.in_proj.weight)


def test_gradient_checkpointing_gives_the_same_gradients(teacher_dir, ids):
    m = student(teacher_dir, neuron="tilif").train()

    def grads():
        m.zero_grad()
        out = m(ids, labels=ids)
        (out.loss + out.loss_hidden).backward()
        return {n: p.grad.clone() for n, p in m.named_parameters()}

    plain = grads()
    m.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    checkpointed = grads()
    assert all(torch.equal(plain[n], checkpointed[n]) for n in plain)


@pytest.mark.parametrize("T", [1, 2])
@pytest.mark.parametrize("spike_driven", [False, True])
def test_spikingjelly_step_mode_leaves_the_logits_unchanged(teacher_dir, ids, T, spike_driven):
    """SpikingJelly users switch step modes with functional.set_step_mode: the projection runs its neuron
    correctly in either mode (batch 2: 'm' would otherwise read the batch as time)."""
    from spikingjelly.activation_based import functional

    m = student(teacher_dir, neuron_in="tilif", neuron_out="ilif", T=T).eval().set_spike_driven(spike_driven)
    with torch.no_grad():
        want = m(ids).logits
        for mode in ("m", "s", "m"):
            functional.set_step_mode(m, mode)
            assert all(site.module.neuron.step_mode == mode for site in m.spiking_projections())
            assert torch.equal(m(ids).logits, want), mode
