"""Independent reference numbers for the offline_mc task: log-likelihoods from plain model forwards."""
import functools
import json

import torch

from pipelines.eval.zero_shot import TASKS_DIR

DOCS = [json.loads(line) for line in (TASKS_DIR / "offline_mc" / "offline_mc.jsonl").read_text().splitlines()]


@functools.lru_cache
def direct_loglikelihoods(model_dir):
    """Σ log p(" " + choice | "Question: ...\\nAnswer:") per doc and choice, one forward per pair."""
    from models import SpikingMambaForCausalLM
    from pipelines.tiny import build_byte_tokenizer

    model, tok = SpikingMambaForCausalLM.from_pretrained(model_dir), build_byte_tokenizer()
    out = []
    for doc in DOCS:
        ctx = tok(f"Question: {doc['question']}\nAnswer:")["input_ids"]
        lls = []
        for choice in doc["choices"]:
            cont = tok(" " + choice)["input_ids"]
            with torch.no_grad():
                logp = torch.log_softmax(model(torch.tensor([ctx + cont])).logits[0].double(), -1)
            lls.append(sum(logp[len(ctx) - 1 + i, t].item() for i, t in enumerate(cont)))
        out.append(lls)
    return tuple(map(tuple, out))


def accuracies(lls):
    acc = sum(max(range(len(l)), key=l.__getitem__) == d["label"] for l, d in zip(lls, DOCS)) / len(DOCS)
    norm = [[x / len(c) for x, c in zip(l, d["choices"])] for l, d in zip(lls, DOCS)]
    acc_norm = sum(max(range(len(l)), key=l.__getitem__) == d["label"] for l, d in zip(norm, DOCS)) / len(DOCS)
    return acc, acc_norm
