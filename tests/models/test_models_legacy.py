"""Students saved by earlier layouts load unchanged: ``tests/models/data/student_868bfe2*`` were written by
commit 868bfe2 (projections were then a neuron and a linear side by side in the mixer, SGC branches
``mixer.in_sgc`` / ``mixer.out_sgc``): a d_model-16, 3-block TI-LIF student, D = 3, V_th 0.5 (in) and
1.5 (out), SGC on blocks 0 and 2 with W′ perturbed, saved with and without ``keep_sgc``, beside its
eval-mode logits and train-mode L_hidden on fixed ids."""
from pathlib import Path

import torch
from safetensors.torch import load_file

from models import SpikingMambaForCausalLM

DATA = Path(__file__).parent / "data"


def test_inference_checkpoint_gives_identical_logits():
    expected = load_file(str(DATA / "student_868bfe2_outputs.safetensors"))
    model = SpikingMambaForCausalLM.from_pretrained(str(DATA / "student_868bfe2"))
    c = model.config
    assert (c.neuron_in, c.neuron_out, c.v_threshold_in, c.v_threshold_out, c.sgc_layers) == ("tilif", "tilif", 0.5, 1.5, [])
    with torch.no_grad():
        assert torch.equal(model(expected["input_ids"]).logits, expected["logits"])


def test_training_checkpoint_renames_its_sgc_keys_and_keeps_the_trained_branches():
    expected = load_file(str(DATA / "student_868bfe2_outputs.safetensors"))
    saved = load_file(str(DATA / "student_868bfe2_keep_sgc" / "model.safetensors"))
    assert "backbone.layers.0.mixer.in_sgc.weight" in saved  # the old key, as written then
    model = SpikingMambaForCausalLM.from_pretrained(str(DATA / "student_868bfe2_keep_sgc"))
    assert model.config.sgc_layers == [0, 2]
    mixer = model.backbone.layers[2].mixer
    assert torch.equal(mixer.out_proj.sgc.weight, saved["backbone.layers.2.mixer.out_sgc.weight"])
    assert not torch.equal(mixer.out_proj.sgc.weight, mixer.out_proj.weight)  # trained W′, not W
    with torch.no_grad():
        assert torch.equal(model(expected["input_ids"]).logits, expected["logits"])
        assert torch.equal(model.train()(expected["input_ids"]).loss_hidden.reshape(1), expected["loss_hidden"])
