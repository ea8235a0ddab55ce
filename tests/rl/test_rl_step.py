"""One DPO step and one KTO step through TRL: the policy moves, the reference does not, and the first
loss is what Eq 14 / Eq 15 give when policy = reference."""
import math

import pytest
import torch

from pipelines.metrics import read_metrics
from pipelines.rl.train import build
from rl_helpers import make_config, ultrafeedback_rows, write_jsonl
from models.sgc import is_sgc_key


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("loss", ["dpo", "kto"])
def test_one_step_moves_policy_and_not_reference(tmp_path, policy_dir, dpo_file, loss):
    # KTO reads UltraFeedback's layout (chat turns, string prompt): it is unpaired and chat-templated.
    data = dpo_file if loss == "dpo" else write_jsonl(tmp_path / "uf.jsonl", ultrafeedback_rows())
    cfg = make_config(tmp_path, policy_dir, data, loss=loss, hidden_weight=2.0)
    trainer = build(cfg).trainer
    policy, reference = trainer.model, trainer.ref_model
    assert reference is not policy and not reference.training
    assert not any(p.requires_grad for p in reference.parameters())
    assert reference.config.sgc_layers == [] and policy.config.sgc_layers == [0, 1]  # SGC kept on the policy
    before_policy, before_reference = snapshot(policy), snapshot(reference)
    trainable = {name for name, p in policy.named_parameters() if p.requires_grad}

    trainer.train()

    after = policy.state_dict()
    changed = {name for name in before_policy if not torch.equal(before_policy[name], after[name])}
    assert changed == trainable  # every trainable weight moved, W' of the SGC branches included ...
    assert any(is_sgc_key(name) for name in changed)
    assert "backbone.embedding.weight" not in changed  # ... and the embedding stayed frozen (Appendix C)
    for name, tensor in reference.state_dict().items():
        assert torch.equal(tensor, before_reference[name]), f"reference weight {name} changed"

    (record,) = read_metrics(cfg.output_dir)
    assert record["step"] == 1
    # Before the step policy = reference, so every log-ratio is 0: Eq 14 gives -log σ(0) = ln 2 and
    # Eq 15 gives 1 - σ(β·(0 - z_ref)) = 1/2 with z_ref = 0.
    assert record[f"loss_{loss}"] == pytest.approx(math.log(2) if loss == "dpo" else 0.5, abs=1e-6)
    assert record["loss_hidden"] > 0
    assert record["loss"] == pytest.approx(record[f"loss_{loss}"] + 2.0 * record["loss_hidden"], rel=1e-5)


def test_non_finite_loss_stops_before_the_update(tmp_path, policy_dir, dpo_file):
    trainer = build(make_config(tmp_path, policy_dir, dpo_file)).trainer
    with torch.no_grad():
        trainer.model.backbone.norm_f.weight.fill_(float("nan"))
    before = snapshot(trainer.model)
    with pytest.raises(FloatingPointError, match=r"non-finite loss at step 1.*none \(the failure came before"):
        trainer.train()
    after = trainer.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if "norm_f" not in k)
