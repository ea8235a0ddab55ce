"""The decode weight layout (`models.mamba2.set_decode_layout`): column-major projections and LM head in eval mode
on CPU, row-major in training; same results up to float rounding, contiguous state dicts, training
and checkpoints unaffected."""

import pytest
import torch

from models import SpikingMambaForCausalLM
from models.mamba2 import set_decode_layout
from models.sgc import is_sgc_key


def projections(model):
    """Every linear that `train()` lays out for decoding: the blocks' in/out_proj and the LM head."""
    for block in model.backbone.layers:
        yield block.mixer.in_proj
        yield block.mixer.out_proj
    yield model.lm_head


def column_major(w):
    return w.stride() == (1, w.shape[0])


@pytest.mark.parametrize("neuron", ["none", "tilif"])
def test_layout_follows_the_mode_and_keeps_results(teacher_dir, ids, tmp_path, neuron):
    sgc_layers = [] if neuron == "none" else [0]  # with an SGC branch: its own weight stays row-major
    model = SpikingMambaForCausalLM.from_pretrained(teacher_dir, neuron=neuron, sgc_layers=sgc_layers)
    assert not model.training and all(column_major(p.weight) for p in projections(model))
    assert model.lm_head.weight is model.backbone.embedding.weight  # still tied
    params = {name: id(p) for name, p in model.named_parameters()}
    state = model.state_dict()
    assert all(v.is_contiguous() for v in state.values())
    with torch.inference_mode():
        eval_logits = model(ids).logits
        generated = model.generate(ids[:1, :5], max_new_tokens=6, do_sample=False)
    model.train()
    assert all(p.weight.is_contiguous() for p in projections(model))
    assert {name: id(p) for name, p in model.named_parameters()} == params  # same Parameter objects
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, eval_logits, rtol=1e-5, atol=1e-5)
    for p in projections(model):  # eval mode with the layout switched off: the same greedy tokens
        set_decode_layout(p, False)
    model.eval()
    for p in projections(model):
        set_decode_layout(p, False)
    with torch.inference_mode():
        assert torch.equal(model.generate(ids[:1, :5], max_new_tokens=6, do_sample=False), generated)
    # training after an inference-mode decode: normal (not inference) tensors, gradients flow
    model.train()
    out = model(ids.clone(), labels=ids.clone())
    (out.loss + out.loss_hidden).backward()
    w = model.backbone.layers[0].mixer.in_proj.weight
    assert not w.is_inference() and w.grad is not None and w.grad.abs().sum() > 0
    # checkpoint written in eval mode: contiguous tensors, reloads to the same weights
    model.eval()
    model.save_pretrained(tmp_path)
    reloaded = SpikingMambaForCausalLM.from_pretrained(tmp_path).state_dict()
    saved = {k: v for k, v in model.state_dict().items() if not is_sgc_key(k)}
    assert saved.keys() == reloaded.keys()
    assert all(torch.equal(v, reloaded[k]) for k, v in saved.items())


def test_set_decode_layout_is_idempotent_and_device_gated(teacher):
    lin = teacher.backbone.layers[0].mixer.in_proj
    address = lin.weight.data_ptr()
    set_decode_layout(lin, True)
    assert lin.weight.data_ptr() == address  # already column-major (eval mode on CPU): no copy
    meta = torch.nn.Linear(4, 6, device="meta")
    teacher.backbone.layers[0].mixer.in_proj = meta
    teacher.backbone.layers[0].mixer.eval()  # not on a CPU: left row-major
    assert meta.weight.is_contiguous()
    with torch.inference_mode():  # converting inside inference mode still yields a normal tensor
        set_decode_layout(lin, False)
    assert lin.weight.is_contiguous() and not lin.weight.is_inference()
