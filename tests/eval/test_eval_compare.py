"""`python -m pipelines eval`: the Table-2-style comparison end to end on tiny local models and data,
and the `paper` group as lm-eval resolves it."""
import json
import math

import pytest
import torch

from eval_helpers import accuracies, direct_loglikelihoods
from pipelines.eval import comparison, paper_average, paper_task_metrics
from pipelines.eval.zero_shot import resolve_task_metrics, task_manager


def test_eval_command_writes_table2_comparison(teacher_dir, student_dir, text_file, byte_tokenizer, tmp_path,
                                               capfd, monkeypatch):
    """... run outside a git repository: none of lm-eval's noise (git's "fatal: not a git repository", the
    `--metadata` hint for our custom-dataset task) reaches the console."""
    from models import SpikingMambaForCausalLM
    from pipelines.__main__ import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    out = tmp_path / "eval"
    assert main(["eval", "--teacher", f"Mamba2={teacher_dir}", "--student", f"TI-LIF={student_dir}",
                 "--tasks", "offline_mc", "offline_mc:acc_norm", "--ppl", str(text_file),
                 "--context_len", "32", "--batch_size", "4", "--output", str(out)]) == 0
    printed, noise = capfd.readouterr()
    assert "not a git repository" not in noise and "--metadata" not in noise
    data = json.loads((out / "comparison.json").read_text())
    assert (out / "comparison.md").read_text() in printed
    assert data["teacher"] == "Mamba2" and [r["label"] for r in data["rows"]] == ["Mamba2", "TI-LIF"]
    teacher, student = data["rows"]
    assert [c["key"] for c in data["columns"]] == ["offline_mc:acc", "offline_mc:acc_norm"]

    # the teacher's numbers are the independently computed ones
    acc, acc_norm = accuracies(direct_loglikelihoods(teacher_dir))
    assert teacher["zero_shot_percent"] == pytest.approx({"offline_mc:acc": 100 * acc,
                                                          "offline_mc:acc_norm": 100 * acc_norm})
    ids = torch.tensor(byte_tokenizer(text_file.read_text())["input_ids"])
    model = SpikingMambaForCausalLM.from_pretrained(teacher_dir)
    with torch.no_grad():
        losses = [model(w[None], labels=w[None]).loss.item() for w in ids.split(32) if len(w) == 32]
    assert teacher["perplexity"]["local_corpus"] == pytest.approx(math.exp(sum(losses) / len(losses)), rel=1e-5)

    # Avg. and Diff. from the row values
    for row in data["rows"]:
        assert row["avg"] == pytest.approx(sum(row["zero_shot_percent"].values()) / 2)
    assert teacher["diff"] is None and student["diff"] == pytest.approx(student["avg"] - teacher["avg"])
    assert student["info"]["neuron_in"] == "tilif" and teacher["info"]["neuron_in"] == "none"
    raw = json.loads((out / "lm_eval" / "TI-LIF" / "offline_mc.json").read_text())["results"]["offline_mc"]
    n = raw["sample_len"]
    for metric in ("acc", "acc_norm"):  # lm-eval's standard error: sample std / sqrt(n) of 0/1 outcomes
        p = student["zero_shot_percent"][f"offline_mc:{metric}"] / 100
        assert student["zero_shot_stderr_percent"][f"offline_mc:{metric}"] == pytest.approx(
            100 * raw[f"{metric}_stderr,none"]) == pytest.approx(100 * math.sqrt(p * (1 - p) / (n - 1)))
    assert not (out / "comparison.partial.json").exists()
    md = (out / "comparison.md").read_text().splitlines()
    assert md[2].startswith("| Mamba2 (teacher) |") and md[2].split("|")[-3].strip() == "-"
    assert md[3].split("|")[2].strip() == (f"{student['zero_shot_percent']['offline_mc:acc']:.2f} ± "
                                           f"{student['zero_shot_stderr_percent']['offline_mc:acc']:.2f}")
    assert md[3].split("|")[-3].strip() == f"{student['diff']:+.2f}"
    assert "RL gain" not in md[0]  # no aligned rows, no gain column


def test_eval_command_puts_rl_gains_side_by_side(teacher_dir, student_dir, tmp_path, capsys):
    """--aligned LABEL=PATH:BASE rows (here stand-ins: the other checkpoint) get Avg. - Avg.(BASE); a dense
    base loads its aligned model as dense, a spiking base as saved; --spike_driven marks the spiking rows."""
    from pipelines.__main__ import main

    out = tmp_path / "eval"
    assert main(["eval", "--teacher", f"Mamba2={teacher_dir}", "--student", f"SNN={student_dir}",
                 "--aligned", f"SNN+DPO={student_dir}:SNN", "--aligned", f"Mamba2+DPO={student_dir}:Mamba2",
                 "--tasks", "offline_mc", "--spike_driven", "--output", str(out)]) == 0
    data = json.loads((out / "comparison.json").read_text())
    rows = {r["label"]: r for r in data["rows"]}
    assert [label for label, r in rows.items() if r["spike_driven"]] == ["SNN", "SNN+DPO"]
    md = (out / "comparison.md").read_text()
    assert "| SNN (spike-driven) |" in md and "| SNN+DPO (spike-driven) |" in md and "| Mamba2+DPO |" in md
    assert rows["SNN+DPO"]["info"]["neuron_in"] == "tilif" and rows["Mamba2+DPO"]["info"]["neuron_in"] == "none"
    for label, base in (("SNN+DPO", "SNN"), ("Mamba2+DPO", "Mamba2")):
        assert rows[label]["base"] == base
        assert rows[label]["rl_gain"] == pytest.approx(rows[label]["avg"] - rows[base]["avg"])
    assert [(g["label"], g["snn"]) for g in data["gains"]] == [("SNN+DPO", True), ("Mamba2+DPO", False)]
    assert capsys.readouterr().out.count("RL gains (Avg., points): SNN SNN+DPO +0.00 (over SNN) vs dense "
                                         "Mamba2+DPO ") == 1
    with pytest.raises(ValueError, match=r"aligned model 'X=.*' names no base: write \[LABEL=\]PATH:BASE_LABEL"):
        comparison.compare([str(student_dir)], str(teacher_dir), aligned=[f"X={student_dir}"], tasks=[])
    with pytest.raises(ValueError, match=r"aligned base\(s\) \['nobody'\] are not the label"):
        comparison.compare([str(student_dir)], str(teacher_dir), aligned=[f"X={student_dir}:nobody"], tasks=[])


def test_eval_command_needs_students(teacher_dir):
    from pipelines.eval.cli import main

    with pytest.raises(SystemExit):
        main(["--teacher", str(teacher_dir)])
    with pytest.raises(ValueError, match="at least one student"):
        comparison.compare([], str(teacher_dir), tasks=[])
    with pytest.raises(ValueError, match="labels .* repeat"):
        comparison.compare([f"X={teacher_dir}"], f"X={teacher_dir}", tasks=[])
    assert comparison.model_label(f"A=B={teacher_dir}") == ("A", f"B={teacher_dir}")
    assert comparison.model_label(str(teacher_dir)) == (teacher_dir.name, str(teacher_dir))


def test_paper_group_resolves_in_lm_eval():
    """`paper` is a group lm-eval can find, over its stock tasks, each reporting the metric we read;
    local tasks are served without indexing lm-eval's own."""
    from lm_eval.tasks._yaml_loader import load_yaml

    assert "boolq" not in task_manager(["offline_mc"]).task_index
    manager = task_manager(["paper"])
    assert "paper" in manager.all_groups and "offline_mc" in manager.all_subtasks
    columns = paper_task_metrics()
    assert [(c.task, c.metric) for c in columns] == [
        ("boolq", "acc"), ("piqa", "acc"), ("hellaswag", "acc_norm"), ("winogrande", "acc"),
        ("arc_easy", "acc"), ("arc_challenge", "acc_norm")]
    for c in columns:
        entry = manager.task_index[c.task]
        cfg = load_yaml(entry.yaml_path, resolve_func=False)
        assert cfg["output_type"] == "multiple_choice"
        assert c.metric in [m["metric"] for m in cfg["metric_list"]], c.task
    assert resolve_task_metrics(["paper", "piqa", "arc_easy:acc_norm"]) == [
        *columns, resolve_task_metrics(["arc_easy:acc_norm"])[0]]


def test_paper_average_reads_one_metric_per_task():
    results = {"results": {c.task: {"acc,none": 0.5, "acc_norm,none": 0.8} for c in paper_task_metrics()}}
    assert paper_average(results) == pytest.approx((4 * 0.5 + 2 * 0.8) / 6)
    del results["results"]["hellaswag"]["acc_norm,none"]
    with pytest.raises(ValueError, match="task 'hellaswag' has no metric 'acc_norm'; it reports \\['acc'\\]"):
        paper_average(results)
