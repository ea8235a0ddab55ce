"""`python -m pipelines eval` as a user meets it: a fast --help, one-line errors naming the bad value and the
fix, a hub task named before any model runs when offline, and finished results kept when a run stops."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipelines.__main__ import main

REPO = Path(__file__).resolve().parents[2]


def run_eval(*argv):
    """main(["eval", *argv]) -> exit status (argparse's SystemExit included)."""
    try:
        return main(["eval", *map(str, argv)])
    except SystemExit as exit_:
        return exit_.code


def test_help_parses_before_any_library_loads():
    """--help (and argument errors) import neither lm-eval nor torch nor transformers; help shows defaults."""
    code = textwrap.dedent("""
        import contextlib, io, sys
        from pipelines.__main__ import main
        with contextlib.redirect_stdout(io.StringIO()) as out:
            try:
                main(["eval", "--help"])
            except SystemExit:
                pass
        heavy = sorted({m.split(".")[0] for m in sys.modules} & {"lm_eval", "torch", "transformers", "datasets"})
        print(heavy)
        print(out.getvalue())
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    heavy, help_text = done.stdout.split("\n", 1)
    assert heavy == "[]"
    for default in ("(default: 2048)", "(default: cpu)", "(default: float32)", "(default: 1)", "(default: runs/eval)",
                    "(default: ['paper'])"):
        assert default in help_text


@pytest.mark.parametrize("argv, exit_code, says", [
    (["--limit", "1.5"], 2, "argument --limit: '1.5': give a fraction in (0, 1) or a whole number of documents >= 1"),
    (["--limit", "0"], 2, "argument --limit: '0': give a fraction"),
    (["--batch_size", "0"], 2, "argument --batch_size: '0': must be >= 1"),
    (["--aligned", "X={student}"], 2, "names no base: write [LABEL=]PATH:BASE_LABEL"),
    (["--aligned", "X={student}:nobody"], 1, "aligned base(s) ['nobody'] are not the label of the teacher"),
    (["--student", "S2={tmp}/nowhere/final"], 1, "checkpoint directory {tmp}/nowhere/final does not exist; give a"),
    (["--student", "S2={tmp}"], 1, "{tmp} has no config.json, so it is not a checkpoint directory"),
    (["--tasks", "offline_mcq"], 1, "unknown lm-eval task(s) ['offline_mcq'] ('offline_mcq': did you mean offline_mc"),
    (["--tasks", "offline_mc:acc_nrom"], 1, "task 'offline_mc' has no metric 'acc_nrom'; it reports ['acc', "),
    (["--tasks", "--ppl", "wiki.txt"], 1, "unknown perplexity corpus 'wiki.txt': give one of"),
    (["--tasks"], 1, "nothing to evaluate: give --tasks and/or --ppl"),
])
def test_bad_inputs_are_one_line(argv, exit_code, says, teacher_dir, student_dir, tmp_path, capfd):
    fill = dict(student=student_dir, tmp=tmp_path)
    argv = [a.format(**fill) for a in argv]
    assert run_eval("--teacher", f"T={teacher_dir}", "--student", f"S={student_dir}", "--tasks", "offline_mc",
                    *argv, "--output", tmp_path / "out") == exit_code
    (line,) = capfd.readouterr().err.strip().splitlines()
    assert says.format(**fill) in line and "Traceback" not in line


def test_offline_hub_task_is_named_before_any_model_runs(teacher_dir, student_dir, tmp_path, capfd):
    """A task whose dataset lives on the hub (not cached, HF_DATASETS_OFFLINE=1) stops the run at once with one
    line naming the task, its dataset and how to get it offline; no model is evaluated."""
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "hub_mc.yaml").write_text(textwrap.dedent("""
        task: hub_mc
        dataset_path: no-such-org/no-such-dataset
        output_type: multiple_choice
        test_split: test
        doc_to_text: "{{question}}"
        doc_to_target: label
        doc_to_choice: choices
        metric_list:
          - metric: acc
    """))
    out = tmp_path / "out"
    assert run_eval("--teacher", teacher_dir, "--student", student_dir, "--tasks", "offline_mc", "hub_mc",
                    "--include_path", tasks, "--output", out) == 1
    (line,) = [ln for ln in capfd.readouterr().err.splitlines() if ln.startswith("error:")]
    assert "task(s) ['hub_mc'] need hub datasets that are neither reachable nor cached" in line
    assert "no-such-org/no-such-dataset" in line and "HF_DATASETS_CACHE" in line and "--include_path" in line
    assert not out.exists()


def corrupt_copy(student_dir, path):
    """A checkpoint directory with the student's config and a truncated weights file."""
    path.mkdir()
    for f in student_dir.iterdir():
        (path / f.name).write_bytes(f.read_bytes())
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    return path


def test_error_mid_way_keeps_the_finished_results(teacher_dir, student_dir, tmp_path, capfd):
    """The teacher finishes, the student's weights are truncated: one error line that also names where the
    teacher's results are kept; they are there, as lm-eval's JSON and in comparison.partial.json."""
    bad = corrupt_copy(student_dir, tmp_path / "bad")
    out = tmp_path / "out"
    assert run_eval("--teacher", f"T={teacher_dir}", "--student", f"S={bad}", "--tasks", "offline_mc",
                    "--output", out) == 1
    (line,) = [ln for ln in capfd.readouterr().err.splitlines() if ln.startswith("error:")]
    assert str(bad / "model.safetensors") in line and f"kept in {out / 'comparison.partial.json'}" in line
    partial = json.loads((out / "comparison.partial.json").read_text())
    assert partial["models"] == ["T", "S"] and [r["label"] for r in partial["rows"]] == ["T"]
    raw = json.loads((out / "lm_eval" / "T" / "offline_mc.json").read_text())["results"]["offline_mc"]
    assert partial["rows"][0]["zero_shot_percent"]["offline_mc:acc"] == pytest.approx(100 * raw["acc,none"])
    assert not (out / "comparison.json").exists()


def test_ctrl_c_keeps_the_finished_tasks(teacher_dir, student_dir, text_file, tmp_path, capfd, monkeypatch):
    """Ctrl-C after the teacher's zero-shot task, during its perplexity: exit 130, one line, the task kept."""
    from pipelines.eval import comparison

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(comparison, "corpus_perplexity", interrupted)
    out = tmp_path / "out"
    assert run_eval("--teacher", f"T={teacher_dir}", "--student", f"S={student_dir}", "--tasks", "offline_mc",
                    "--ppl", text_file, "--output", out) == 130
    (line,) = [ln for ln in capfd.readouterr().err.splitlines() if ln.startswith("interrupted")]
    assert line == (f"interrupted; the results finished so far are kept in {out / 'comparison.partial.json'} "
                    f"(lm-eval's own in {out / 'lm_eval'})")
    (row,) = json.loads((out / "comparison.partial.json").read_text())["rows"]
    assert row["label"] == "T" and set(row["zero_shot_percent"]) == {"offline_mc:acc"} and row["perplexity"] == {}


def test_quiet_drops_only_our_tasks_metadata_hint(tmp_path, capfd, monkeypatch):
    """The `--metadata` hint goes for our custom-dataset task only; the git hash is still logged in a
    repository, and outside one git's complaint stays off the console."""
    import logging

    from pipelines.eval.quiet import METADATA_HINT, OwnTaskMetadataHint, git_commit_hash

    hint = OwnTaskMetadataHint()

    def record(msg):
        return logging.LogRecord("lm_eval.api.task", logging.WARNING, __file__, 1, msg, None, None)

    assert not hint.filter(record("offline_mc" + METADATA_HINT + " in console"))
    assert hint.filter(record("my_task" + METADATA_HINT + " in console"))
    assert hint.filter(record("offline_mc: some other warning"))
    monkeypatch.chdir(REPO)
    assert git_commit_hash()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    git_commit_hash()
    assert "fatal" not in capfd.readouterr().err
