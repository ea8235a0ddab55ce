"""`spikingmamba` in lm-evaluation-harness: the command line, simple_evaluate and a direct
log-likelihood computation agree on a local multiple-choice task; `--model hf` still works through
our launcher and, on the same weights in transformers format, gives the same numbers."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pipelines.eval
from eval_helpers import DOCS, accuracies, direct_loglikelihoods
from pipelines.eval.zero_shot import TASKS_DIR
from pipelines.lm_eval import with_our_tasks

REPO = Path(__file__).resolve().parents[2]


def launcher(model, pretrained, out, *extra):
    """`python -m pipelines.lm_eval ...` on offline_mc, started in the background."""
    cmd = [sys.executable, "-m", "pipelines.lm_eval", "--model", model,
           "--model_args", f"pretrained={pretrained},dtype=float32", "--tasks", "offline_mc",
           "--device", "cpu", "--batch_size", "4", "--output_path", str(out), "--log_samples", *extra]
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.Popen(cmd, cwd=out.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def finished_results(proc, out):
    """-> (offline_mc metrics, {doc_id: [log-likelihood per choice]}) from the files lm-eval wrote."""
    log = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, log[-3000:]
    (results,) = out.glob("**/results_*.json")
    (samples,) = out.glob("**/samples_offline_mc_*.jsonl")
    lls = {}
    for line in samples.read_text().splitlines():
        sample = json.loads(line)
        lls[sample["doc_id"]] = [float(resp[0][0]) for resp in sample["resps"]]
    return json.loads(results.read_text())["results"]["offline_mc"], lls


def test_cli_simple_evaluate_and_direct_loglikelihood_agree(teacher_dir, teacher_hf_dir, tmp_path):
    import lm_eval
    from lm_eval.tasks import TaskManager

    from pipelines.eval import register_with_lm_eval

    register_with_lm_eval()  # as documented: pipelines.eval may have been imported before lm_eval
    for name in ("ours", "hf"):
        (tmp_path / name).mkdir()
    runs = {  # ours names the include path as in the docs; hf relies on the launcher adding it
        "ours": launcher("spikingmamba", teacher_dir, tmp_path / "ours", "--include_path", str(TASKS_DIR)),
        "hf": launcher("hf", teacher_hf_dir, tmp_path / "hf"),
    }
    try:
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
            assert harness_lls == pytest.approx(list(direct[sample["doc_id"]]), abs=1e-4)

        for name, proc in runs.items():
            cli, lls = finished_results(proc, tmp_path / name)
            assert (cli["acc,none"], cli["acc_norm,none"]) == (acc, acc_norm), name
            assert cli["sample_len"] == len(DOCS) == len(lls)
            for doc_id, values in lls.items():
                assert values == pytest.approx(list(direct[doc_id]), abs=1e-4), (name, doc_id)
    finally:
        for proc in runs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_student_loads_with_its_neurons_and_runs(student_dir):
    from pipelines.eval.harness import SpikingMambaLM

    lm = SpikingMambaLM(pretrained=str(student_dir), device="cpu", dtype="float32", spike_driven=True)
    assert (lm.config.neuron_in, lm.config.neuron_out, lm.config.D) == ("tilif", "tilif", 4)
    assert all(site.module.spike_driven for site in lm.model.spiking_projections())
    assert len(lm.model.spiking_projections()) == 2 * lm.config.n_layer
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
    with pytest.raises(ValueError, match=r"unknown model_args \['neurn'\]"):
        SpikingMambaLM(pretrained=str(teacher_dir), device="cpu", neurn="tilif")
    with pytest.raises(ValueError, match="causal LM"):
        SpikingMambaLM(pretrained=str(teacher_dir), backend="seq2seq")


def test_generate_until_batch_with_left_padding_matches_single_prompts(teacher_dir):
    """HFLM left-pads a generation batch; the recurrent state must not see the padding."""
    from lm_eval.api.instance import Instance

    from pipelines.eval.harness import SpikingMambaLM

    lm = SpikingMambaLM(pretrained=str(teacher_dir), device="cpu", dtype="float32", batch_size=2)
    prompts = ["Hello there", "A much longer prompt than the first"]
    kwargs = {"until": ["\n\n\n"], "max_gen_toks": 8, "do_sample": False}
    batched = lm.generate_until([Instance("generate_until", {}, (p, dict(kwargs)), i) for i, p in enumerate(prompts)])
    for prompt, text in zip(prompts, batched):
        ids = lm.tokenizer(prompt, return_tensors="pt").input_ids
        alone = lm.model.generate(ids, max_new_tokens=8, do_sample=False)[0, ids.shape[1]:]
        assert text == lm.tokenizer.decode(alone, skip_special_tokens=True).split("\n\n\n")[0]


def test_tokenizer_resolution(teacher_dir, tmp_path, monkeypatch):
    from huggingface_hub import constants

    from pipelines.eval.harness import DEFAULT_TOKENIZER, resolve_tokenizer

    assert resolve_tokenizer(teacher_dir) == str(teacher_dir)                 # saved beside the weights
    assert resolve_tokenizer(teacher_dir, "my/tok") == "my/tok"                # explicit wins
    (tmp_path / "config.json").write_text("{}")
    assert resolve_tokenizer(tmp_path) == DEFAULT_TOKENIZER                    # none there: Mamba2's
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # read at import: another test may have imported it
    with pytest.raises(FileNotFoundError, match=r"'state-spaces/mamba2-1.3b' is not a local directory, and the "
                                                r"Hugging Face hub is unreachable \(HF_HUB_OFFLINE=1\)"):
        resolve_tokenizer("state-spaces/mamba2-1.3b")                          # offline, not cached
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert resolve_tokenizer("state-spaces/mamba2-1.3b") == DEFAULT_TOKENIZER  # hub checkpoints ship none


@pytest.mark.parametrize("model", ["spikingmamba", "hf"])
@pytest.mark.parametrize("case", ["missing", "no_config", "file"])
def test_launcher_names_a_bad_pretrained_in_one_line(model, case, tmp_path, capsys, monkeypatch):
    """`python -m pipelines.lm_eval --model_args pretrained=BAD`: one line naming BAD, no hub fallback."""
    from pipelines.lm_eval import main

    bad = tmp_path / "runs" / "final"
    if case != "missing":
        bad.parent.mkdir()
        bad.mkdir() if case == "no_config" else bad.write_text("x")
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    assert main(["--model", model, "--model_args", f"pretrained={bad}", "--tasks", "offline_mc"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and str(bad) in line and "huggingface.co" not in line
    assert {"missing": "does not exist", "no_config": "has no config.json", "file": "is a file"}[case] in line


def test_hf_model_on_a_saved_student_matches_spikingmamba(student_dir):
    """`--model hf --model_args pretrained=STUDENT` goes through AutoModelForCausalLM, which hands our
    from_pretrained HFLM's defaults (gguf_file=None, subfolder="", max_memory=None, device_map={"": "cpu"},
    ...); the student loads with its neurons and scores offline_mc exactly like `--model spikingmamba`."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    results = {}
    for model in ("hf", "spikingmamba"):
        out = lm_eval.simple_evaluate(
            model=model, model_args=f"pretrained={student_dir},dtype=float32", tasks=["offline_mc"],
            task_manager=TaskManager(include_path=str(TASKS_DIR), include_defaults=False), device="cpu",
            batch_size=4, log_samples=True)
        lls = {s["doc_id"]: [resp[0][0] for resp in s["resps"]] for s in out["samples"]["offline_mc"]}
        results[model] = out["results"]["offline_mc"], lls
    (hf, hf_lls), (ours, our_lls) = results["hf"], results["spikingmamba"]
    assert (hf["acc,none"], hf["acc_norm,none"]) == (ours["acc,none"], ours["acc_norm,none"])
    assert hf_lls.keys() == our_lls.keys() and len(hf_lls) == len(DOCS)
    direct = direct_loglikelihoods(student_dir)  # the spiking student, not its teacher
    for doc_id, values in hf_lls.items():
        assert values == pytest.approx(our_lls[doc_id], abs=1e-5)
        assert values == pytest.approx(list(direct[doc_id]), abs=1e-4)
