"""TRL's sequence log-probabilities for SpikingMamba equal an independent computation.

TRL 1.16 batches prompt+completion right-padded and scores completion tokens with a fused LM head
reading ``model.base_model(...).last_hidden_state`` (the backbone's transformers-style output).
The oracle runs a freshly loaded model on each sequence alone, unpadded, and sums log-softmax of the
logits over the completion tokens in float64.
"""
import torch

from models import SpikingMambaForCausalLM
from pipelines.rl.train import build
from rl_helpers import make_config


def test_reference_log_probs_match_unpadded_forward(tmp_path, policy_dir, dpo_file):
    trainer = build(make_config(tmp_path, policy_dir, dpo_file)).trainer
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    mask = batch["attention_mask"]
    assert (mask == 0).any(), "the test needs sequences of different lengths"
    assert torch.equal(mask, mask.sort(dim=1, descending=True).values), "TRL must pad on the right"

    chosen, rejected = trainer.compute_ref_log_probs(trainer.ref_model, batch)
    got = torch.cat([chosen, rejected])

    oracle = SpikingMambaForCausalLM.from_pretrained(policy_dir, sgc_layers=[]).eval()
    for row in range(mask.shape[0]):
        n = int(mask[row].sum())
        ids, completion = batch["input_ids"][row, :n], batch["completion_mask"][row, :n]
        with torch.no_grad():
            logits = oracle(ids[None]).logits[0]
            # TRL's reference model serves ordinary forward calls too
            assert torch.equal(trainer.ref_model(ids[None]).logits[0], logits)
        token_logp = torch.log_softmax(logits[:-1].double(), -1).gather(-1, ids[1:, None])[:, 0]
        expected = (token_logp * completion[1:]).sum()
        assert completion[1:].sum() > 0
        torch.testing.assert_close(got[row].double(), expected, atol=1e-4, rtol=1e-5)
