"""`spikingmamba` in lm-evaluation-harness: the command line, simple_evaluate and a direct
log-likelihood computation agree on a local multiple-choice task; `--model hf` still works through
our launcher and, on the same weights in transformers format, gives the same numbers."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import pipelines.eval
from pipelines.eval.zero_shot import TASKS_DIR
from pipelines.lm_eval import with_our_tasks

REPO = Path(__file__).resolve().parents[2]
DOCS = [json.loads(line) for line in (TASKS_DIR / "offline_mc" / "offline_mc.jsonl").read_text().splitlines()]


def launcher(model, pretrained, out):
    """`python -m pipelines.lm_eval ...` on offline_mc, started in the background."""
    cmd = [sys.executable, "-m", "pipelines.lm_eval", "--model", model,
           "--model_args", f"pretrained={pretrained},dtype=float32", "--tasks", "offline_mc",
           "--device", "cpu", "--batch_size", "4", "--output_path", str(out)]
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", PYTHONPATH=str(REPO))
    return subprocess.Popen(cmd, cwd=out.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def finished_results(proc, out):
    log = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, log[-3000:]
    (path,) = out.glob("**/results_*.json")
    return json.loads(path.read_text())["results"]["offline_mc"], log


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
    return out


def accuracies(lls):
    acc = sum(max(range(len(l)), key=l.__getitem__) == d["label"] for l, d in zip(lls, DOCS)) / len(DOCS)
    norm = [[x / len(c) for x, c in zip(l, d["choices"])] for l, d in zip(lls, DOCS)]
    acc_norm = sum(max(range(len(l)), key=l.__getitem__) == d["label"] for l, d in zip(norm, DOCS)) / len(DOCS)
    return acc, acc_norm


def test_cli_simple_evaluate_and_direct_loglikelihood_agree(teacher_dir, teacher_hf_dir, tmp_path):
    import lm_eval
    from lm_eval.tasks import TaskManager

    runs = {name: (launcher(model, path, tmp_path / name), tmp_path / name)
            for name, model, path in [("ours", "spikingmamba", teacher_dir), ("hf", "hf", teacher_hf_dir)]}
    for _, out in runs.values():
        out.mkdir()

    direct = direct_loglikelihoods(teacher_dir)
    acc, acc_norm = accuracies(direct)
    results = lm_eval.simple_evaluate(
        model="spikingmamba", model_args={"pretrained": str(teacher_dir), "dtype": "float32"},
        tasks=["offline_mc"], task_manager=TaskManager(include_path=str(TASKS_DIR), include_defaults=False),
        device="cpu", batch_size=4, log_samples=True)
    py = results["results"]["offline_mc"]
    assert (py["acc,none"], py["acc_norm,none"]) == (acc, acc_norm)
    for sample in results["samples"]["offline_mc"]:
        harness_lls = [resp[0][0] for resp in sample["resps"]]
        assert harness_lls == pytest.approx(direct[sample["doc_id"]], abs=1e-4)

    for name, (proc, out) in runs.items():
        cli, log = finished_results(proc, out)
        assert (cli["acc,none"], cli["acc_norm,none"]) == (acc, acc_norm), (name, log[-2000:])
        assert cli["sample_len"] == len(DOCS)


def test_student_loads_with_its_neurons_and_runs(student_dir):
    from pipelines.eval.harness import SpikingMambaLM

    lm = SpikingMambaLM(pretrained=str(student_dir), device="cpu", dtype="float32", spike_driven=True)
    assert (lm.config.neuron_in, lm.config.neuron_out, lm.config.D) == ("tilif", "tilif", 4)
    assert all(block.mixer.spike_driven for block in lm.model.backbone.layers)
    assert lm.tokenizer.name_or_path == str(student_dir)
    info = lm.get_model_info()
    assert info["spike_driven"] is True and info["spiking_neurons"]["neuron_in"] == "tilif"


def test_registry_keeps_lm_eval_models():
    from lm_eval.api.registry import get_model, model_registry
    from lm_eval.models.huggingface import HFLM

    from pipelines.eval.harness import SpikingMambaLM

    assert get_model("spikingmamba") is SpikingMambaLM and get_model("hf") is HFLM
    assert {"vllm", "mamba_ssm", "dummy"} <= set(model_registry)


def test_launcher_adds_our_tasks_only_when_no_include_path():
    ours = ["--include_path", str(pipelines.eval.TASKS_DIR)]
    assert with_our_tasks(["--model", "hf", "--tasks", "paper"]) == ["--model", "hf", "--tasks", "paper", *ours]
    assert with_our_tasks(["ls", "tasks"]) == ["ls", "tasks", *ours]
    mine = ["--tasks", "x", "--include_path", "/mine"]
    assert with_our_tasks(mine) == mine
    assert with_our_tasks(["--help"]) == ["--help"] and with_our_tasks([]) == []


def test_unsupported_model_args_are_rejected(teacher_dir):
    from pipelines.eval.harness import SpikingMambaLM

    with pytest.raises(ValueError, match="does not support {'peft': 'x'}"):
        SpikingMambaLM(pretrained=str(teacher_dir), device="cpu", peft="x")
    with pytest.raises(ValueError, match="causal LM"):
        SpikingMambaLM(pretrained=str(teacher_dir), backend="seq2seq")
