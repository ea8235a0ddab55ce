"""The policy's SGC branch: fresh W' = W by default, or the trained W' of a distillation checkpoint."""
import pytest
import torch
from safetensors.torch import save_file

from models import SpikingMambaForCausalLM
from pipelines.rl.policy import load_policy, load_reference
from rl_helpers import make_config


def distillation_checkpoint(path, policy_dir, perturb):
    """What ``accelerator.save_state`` writes for a student with SGC on layer 1: model.safetensors."""
    student = SpikingMambaForCausalLM.from_pretrained(policy_dir, sgc_layers=[1])
    state = {k: v.clone() for k, v in student.state_dict().items() if k != "lm_head.weight"}
    for key in perturb:
        state[key] += 0.5
    path.mkdir()
    save_file(state, str(path / "model.safetensors"))
    return str(path), state


def test_fresh_sgc_branch_starts_from_w(tmp_path, policy_dir):
    policy = load_policy(make_config(tmp_path, policy_dir, "x.jsonl", sgc=True), policy_dir)
    assert policy.training and policy.config.sgc_layers == [0, 1]
    mixer = policy.backbone.layers[1].mixer
    assert torch.equal(mixer.in_proj.sgc.weight, mixer.in_proj.weight)
    assert not policy.get_input_embeddings().weight.requires_grad
    reference = load_reference(policy_dir)
    assert not reference.training and reference.config.sgc_layers == []


def test_sgc_init_takes_trained_w_prime(tmp_path, policy_dir):
    key = "backbone.layers.1.mixer.out_proj.sgc.weight"
    path, state = distillation_checkpoint(tmp_path / "step-00000010", policy_dir, [key])
    policy = load_policy(make_config(tmp_path, policy_dir, "x.jsonl", sgc=True, sgc_init=path), policy_dir)
    assert policy.config.sgc_layers == [1]
    assert torch.equal(policy.state_dict()[key], state[key])
    assert not torch.equal(policy.backbone.layers[1].mixer.out_proj.weight, state[key])


def test_sgc_init_from_another_model_is_refused(tmp_path, policy_dir):
    path, _ = distillation_checkpoint(tmp_path / "other", policy_dir, ["backbone.norm_f.weight"])
    with pytest.raises(ValueError, match=r"not the training state of policy.*backbone\.norm_f\.weight"):
        load_policy(make_config(tmp_path, policy_dir, "x.jsonl", sgc=True, sgc_init=path), policy_dir)
    with pytest.raises(ValueError, match=r"sgc_layers=\[0\] but sgc_init .* on layers \[1\]"):
        load_policy(make_config(tmp_path, policy_dir, "x.jsonl", sgc=True, sgc_init=path, sgc_layers=[0]), policy_dir)
