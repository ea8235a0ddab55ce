"""Shared by the alignment tests: tiny shapes, preference files and a config builder."""
import json

from pipelines.config import config_from_dict
from pipelines.rl.config import RLConfig

POLICY_SHAPE = dict(d_model=32, n_layer=2, d_state=8, headdim=16, chunk_size=16)

# Eight short preference pairs (byte-level tokens: ~10 per sequence); in the first, the rejected
# completion is one token longer than the chosen one.
PAIRS = [{"prompt": f"Q: {a}+{b}=", "chosen": f" {a + b}.", "rejected": f" {a + b + 1}."}
         for a, b in [(6, 3), (1, 2), (3, 4), (5, 1), (2, 2), (4, 4), (7, 1), (3, 5)]]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def ultrafeedback_rows(pairs=PAIRS):
    """The layout of HuggingFaceH4/ultrafeedback_binarized: a string prompt, and chosen/rejected as whole
    conversations that repeat the user turn, plus extra columns."""
    def chat(user, assistant):
        return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]

    return [{"prompt": p["prompt"], "prompt_id": str(i), "chosen": chat(p["prompt"], p["chosen"]),
             "rejected": chat(p["prompt"], p["rejected"]), "score_chosen": 8.0, "score_rejected": 2.0}
            for i, p in enumerate(pairs)]


def make_config(tmp_path, policy, data, **overrides):
    """A fast fp32 CPU config: global batch 4 = 2 x micro-batch 2, one step, no warm-up (so step 1 moves)."""
    values = dict(policy=policy, data=data, max_length=48, global_batch_size=4, micro_batch_size=2, lr=1e-2,
                  warmup_ratio=0.0, max_steps=1, mixed_precision="no", cpu=True, seed=0,
                  output_dir=str(tmp_path / "run"), save_every=100, log_every=1, tensorboard=False)
    values.update(overrides)
    return config_from_dict(RLConfig, values)
