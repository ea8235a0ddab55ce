"""One DPO step and one KTO step through TRL: the policy moves, the reference does not, and the first
loss is what Eq 14 / Eq 15 give when policy = reference — TRL's plain loss by default, plus λ·L_hidden
only with sgc=true; a dense (Mamba2) policy runs the same way (Table 2's baselines)."""
import math

import pytest
import torch

from pipelines.metrics import read_metrics
from pipelines.rl.train import build
from rl_helpers import make_config, ultrafeedback_rows, write_jsonl
from models.sgc import is_sgc_key

# Before the first step policy = reference, so every log-ratio is 0: Eq 14 gives -log σ(0) = ln 2 and
# Eq 15 gives 1 - σ(β·(0 - z_ref)) = 1/2 with z_ref = 0.
FIRST_LOSS = {"dpo": math.log(2), "kto": 0.5}


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def data_for(loss, tmp_path, dpo_file):
    # KTO reads UltraFeedback's layout (chat turns, string prompt): it is unpaired and chat-templated.
    return dpo_file if loss == "dpo" else write_jsonl(tmp_path / "uf.jsonl", ultrafeedback_rows())


def one_step(cfg):
    """Build, train one step; check the policy moved (embedding frozen), the reference did not; return
    (trainer, changed weight names, the step-1 metrics record)."""
    trainer = build(cfg).trainer
    policy, reference = trainer.model, trainer.ref_model
    assert reference is not policy and not reference.training
    assert not any(p.requires_grad for p in reference.parameters()) and reference.config.sgc_layers == []
    before_policy, before_reference = snapshot(policy), snapshot(reference)
    trainable = {name for name, p in policy.named_parameters() if p.requires_grad}

    trainer.train()

    after = policy.state_dict()
    changed = {name for name in before_policy if not torch.equal(before_policy[name], after[name])}
    assert changed == trainable  # every trainable weight moved ...
    assert "backbone.embedding.weight" not in changed  # ... and the embedding stayed frozen (Appendix C)
    for name, tensor in reference.state_dict().items():
        assert torch.equal(tensor, before_reference[name]), f"reference weight {name} changed"
    (record,) = read_metrics(cfg.output_dir)
    assert record["step"] == 1
    return trainer, changed, record


@pytest.mark.parametrize("loss", ["dpo", "kto"])
def test_first_step_is_plain_dpo_kto_by_default(tmp_path, policy_dir, dpo_file, loss):
    """The paper's Eq 14 / 15 with nothing added: the logged training loss is TRL's loss itself."""
    trainer, changed, record = one_step(make_config(tmp_path, policy_dir, data_for(loss, tmp_path, dpo_file),
                                                    loss=loss))
    assert trainer.model.config.sgc_layers == [] and not any(is_sgc_key(n) for n in changed)
    assert "loss_hidden" not in record
    assert record[f"loss_{loss}"] == pytest.approx(FIRST_LOSS[loss], abs=1e-6)
    assert record["loss"] == pytest.approx(FIRST_LOSS[loss], abs=1e-6)


@pytest.mark.parametrize("loss", ["dpo", "kto"])
def test_sgc_option_adds_weighted_l_hidden(tmp_path, policy_dir, dpo_file, loss):
    cfg = make_config(tmp_path, policy_dir, data_for(loss, tmp_path, dpo_file), loss=loss, sgc=True,
                      hidden_weight=2.0)
    trainer, changed, record = one_step(cfg)
    assert trainer.model.config.sgc_layers == [0, 1]  # first and last (= middle) of 2 blocks
    assert any(is_sgc_key(name) for name in changed)  # W' of the SGC branches trains too
    assert record[f"loss_{loss}"] == pytest.approx(FIRST_LOSS[loss], abs=1e-6)
    assert record["loss_hidden"] > 0
    assert record["loss"] == pytest.approx(record[f"loss_{loss}"] + 2.0 * record["loss_hidden"], rel=1e-5)


@pytest.mark.parametrize("loss", ["dpo", "kto"])
def test_dense_policy_runs_dpo_and_kto(tmp_path, dense_policy_dir, dpo_file, loss):
    """Table 2's "Mamba2 + DPO / + KTO": the teacher itself as policy (and so as its own reference)."""
    trainer, _, record = one_step(make_config(tmp_path, dense_policy_dir, data_for(loss, tmp_path, dpo_file),
                                              loss=loss))
    assert not trainer.model.config.is_spiking and not trainer.ref_model.config.is_spiking
    assert record["loss"] == pytest.approx(FIRST_LOSS[loss], abs=1e-6) and "loss_hidden" not in record
    with pytest.raises(ValueError, match="has no TI-LIF projection, the only kind SGC is defined for"):
        build(make_config(tmp_path / "sgc", dense_policy_dir, dpo_file, loss=loss, sgc=True))


def test_non_finite_loss_stops_before_the_update(tmp_path, policy_dir, dpo_file):
    trainer = build(make_config(tmp_path, policy_dir, dpo_file)).trainer
    with torch.no_grad():
        trainer.model.backbone.norm_f.weight.fill_(float("nan"))
    before = snapshot(trainer.model)
    with pytest.raises(FloatingPointError, match=r"diverged at step 1: non-finite loss.*No checkpoint before the divergence"):
        trainer.train()
    after = trainer.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if "norm_f" not in k)
