"""Training checkpoints write what transformers hands ``_save``: under DeepSpeed ZeRO-3 / FSDP the
module holds only a shard and the gathered ``state_dict`` is the model."""
import torch
from safetensors.torch import load_file

from pipelines.rl.train import build
from rl_helpers import make_config
from models.sgc import is_sgc_key


def test_save_writes_the_gathered_state_dict_with_sgc(tmp_path, policy_dir, dpo_file):
    trainer = build(make_config(tmp_path, policy_dir, dpo_file, sgc=True)).trainer
    policy = trainer.model
    gathered = {k: v.detach() + 1.0 for k, v in policy.state_dict().items()}  # stands in for ZeRO-3's gather
    trainer._save(str(tmp_path / "gathered"), state_dict=gathered)
    stored = load_file(tmp_path / "gathered" / "model.safetensors")
    assert any(is_sgc_key(k) for k in stored)  # a training checkpoint keeps the SGC branches
    assert stored.keys() == gathered.keys() - {"lm_head.weight"}  # tied head: the embedding is saved
    assert all(torch.equal(stored[k], gathered[k]) for k in stored)

    trainer._save(str(tmp_path / "own"))  # no state_dict (single process): the module's own weights
    stored = load_file(tmp_path / "own" / "model.safetensors")
    own = policy.state_dict()
    assert stored.keys() == gathered.keys() - {"lm_head.weight"}
    assert all(torch.equal(stored[k], own[k]) for k in stored)
