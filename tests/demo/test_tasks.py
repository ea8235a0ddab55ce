"""The next-verse lm-eval task and the TRL preference sets built from the corpus."""
import json
import math

import pytest
import torch
import yaml

from pipelines.demo.continuations import Continuation
from pipelines.demo.tasks import TASK_NAME, mc_rows


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_mc_rows_put_the_target_at_the_label():
    examples = [Continuation(f"d:{i}", "ctx", f"true {i}", ("a", "b", "c")) for i in range(400)]
    rows = mc_rows(examples, seed=0)
    assert all(r["choices"][r["label"]] == f"true {i}" and sorted(r["choices"]) == sorted(["a", "b", "c", f"true {i}"])
               for i, r in enumerate(rows))
    counts = [sum(r["label"] == k for r in rows) for k in range(4)]
    assert min(counts) > 70                      # ~uniform answer position (100 expected each)


def test_task_files_are_heldout_only_and_well_formed(demo_data):
    config = yaml.safe_load((demo_data.task_dir / f"{TASK_NAME}.yaml").read_text())
    assert config["task"] == TASK_NAME and config["output_type"] == "multiple_choice"
    rows = read_jsonl(demo_data.task_dir / f"{TASK_NAME}.jsonl")
    assert config["dataset_kwargs"]["data_files"]["test"] == str(demo_data.task_dir / f"{TASK_NAME}.jsonl")
    assert len(rows) == demo_data.manifest["n_mc"]
    heldout = {json.loads(line)["name"]: json.loads(line)["text"] for line in demo_data.heldout.open()}
    train_text = demo_data.train.read_text()
    for r in rows:
        assert len(r["choices"]) == 4 and 0 <= r["label"] < 4
        name = r["source"].rsplit(":", 1)[0]
        assert f"{r['context']} {r['choices'][r['label']]}" in heldout[name]
        assert r["context"] not in train_text


def test_preference_sets_in_trl_formats_from_training_split(demo_data):
    dpo = read_jsonl(demo_data.preference("dpo"))
    kto = read_jsonl(demo_data.preference("kto"))
    assert len(dpo) == demo_data.manifest["n_preference"] and len(kto) == 2 * len(dpo)
    assert all(set(r) == {"prompt", "chosen", "rejected"} for r in dpo)
    assert all(set(r) == {"prompt", "completion", "label"} for r in kto)
    assert sum(r["label"] for r in kto) == len(dpo)
    train = [json.loads(line)["text"] for line in demo_data.train.open()]
    heldout_text = demo_data.heldout.read_text()
    for r in dpo:
        assert r["chosen"].startswith(" ") and r["rejected"].startswith(" ") and r["chosen"] != r["rejected"]
        assert any(r["prompt"] + r["chosen"] in doc for doc in train)
        assert r["prompt"] not in heldout_text
    with pytest.raises(ValueError, match="'ipo'"):
        demo_data.preference("ipo")


def continuation_logprob(model, tokenizer, context, continuation):
    """log p(continuation | context), summed over the continuation's tokens; float64 log-softmax."""
    ctx = tokenizer(context, add_special_tokens=False).input_ids
    whole = tokenizer(context + continuation, add_special_tokens=False).input_ids
    assert whole[:len(ctx)] == ctx
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([whole])).logits[0].double(), -1)
    return sum(logp[t - 1, whole[t]].item() for t in range(len(ctx), len(whole)))


def test_lm_eval_runs_the_task_and_scores_as_an_independent_computation(demo_data, tmp_path):
    """lm-eval's acc and acc_mutual_info on a random tiny GPT-2 equal the argmax of log-likelihoods
    (conditional, and conditional minus unconditional after EOS) computed here."""
    lm_eval = pytest.importorskip("lm_eval")
    from lm_eval.tasks import TaskManager
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tokenizer = AutoTokenizer.from_pretrained(demo_data.tokenizer)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=1, n_head=2,
                                       n_positions=512, bos_token_id=0, eos_token_id=0)).eval()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    limit = 16
    out = lm_eval.simple_evaluate(model="hf", model_args={"pretrained": str(tmp_path), "dtype": "float32"},
                                  tasks=[TASK_NAME], task_manager=TaskManager(include_path=str(demo_data.task_dir),
                                                                              include_defaults=False),
                                  batch_size=8, device="cpu", limit=limit, bootstrap_iters=0, log_samples=True)
    rows = read_jsonl(demo_data.task_dir / f"{TASK_NAME}.jsonl")[:limit]
    correct = correct_mi = 0
    for sample in out["samples"][TASK_NAME]:
        row = rows[sample["doc_id"]]
        ours = [continuation_logprob(model, tokenizer, row["context"], " " + c) for c in row["choices"]]
        prior = [continuation_logprob(model, tokenizer, tokenizer.eos_token, " " + c) for c in row["choices"]]
        theirs = [resp[0][0] for resp in sample["resps"]]
        assert ours + prior == pytest.approx(theirs, rel=1e-4, abs=1e-3)
        correct += max(range(4), key=ours.__getitem__) == row["label"]
        correct_mi += max(range(4), key=lambda i: ours[i] - prior[i]) == row["label"]
    results = out["results"][TASK_NAME]
    assert results["acc,none"] == pytest.approx(correct / limit)
    assert results["acc_mutual_info,none"] == pytest.approx(correct_mi / limit)
    assert math.isfinite(results["acc_norm,none"])
