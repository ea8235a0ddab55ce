"""Bad inputs and faults of the alignment pipeline (issue 16): bad preference rows are named before TRL sees
them; a divergence names its step and the last good checkpoint, and the advice (resume with a lower lr) works;
a full disk keeps the earlier checkpoints; a second process is refused; a resumed run may grow."""
import errno
import json
import re

import pytest
import transformers

from pipelines.checkpointing import lock_output_dir
from pipelines.metrics import read_metrics
from pipelines.rl.data import load_preferences
from pipelines.rl.train import run
from rl_helpers import PAIRS, make_config, write_jsonl


@pytest.mark.parametrize("row, found", [
    ({"prompt": "Q", "chosen": " a."}, "line 2 has no rejected"),
    ({"prompt": "Q", "chosen": 3, "rejected": " b."}, "line 2 has chosen=3, not text"),
    ({"prompt": ["Q"], "chosen": " a", "rejected": " b"}, "line 2 has prompt=['Q']")])
def test_bad_preference_rows_are_named(tmp_path, row, found):
    data = write_jsonl(tmp_path / "prefs.jsonl", [PAIRS[0], row, *PAIRS[1:]])
    for loss in ("dpo", "kto"):
        with pytest.raises(ValueError, match=re.escape(found) + r".*must be a string or chat turns"):
            load_preferences(data, "train", loss, seed=0)


def test_bad_json_line_is_named(tmp_path):
    data = tmp_path / "prefs.jsonl"
    data.write_text(json.dumps(PAIRS[0]) + "\n{\"prompt\": \"Q\",\n")
    with pytest.raises(ValueError, match=r"prefs.jsonl', line 2: not valid JSON \(Expecting property name"):
        load_preferences(str(data), "train", "dpo", seed=0)


def test_divergence_names_the_step_and_resuming_with_a_lower_lr_works(tmp_path, policy_dir, dpo_file):
    settings = dict(max_steps=4, save_every=1, keep_last=3, warmup_ratio=0.25)  # step 1: lr 0
    with pytest.raises(FloatingPointError) as err:
        run(make_config(tmp_path, policy_dir, dpo_file, lr=1e6, max_grad_norm=None, **settings))
    msg, out = str(err.value), tmp_path / "run"
    assert msg.startswith("the run diverged at step 3: NaN reached a neuron's input") and "fp16" not in msg
    assert f"Last good checkpoint: {out / 'checkpoints' / 'step-00000001'} (step 1)" in msg
    assert "--resume --allow-config-change lr,max_grad_norm lr=<lower> max_grad_norm=1.0" in msg
    assert (out / "checkpoints" / "step-00000002.diverged").is_dir()
    resumed = run(make_config(tmp_path, policy_dir, dpo_file, lr=1e-3, max_grad_norm=1.0, resume=True,
                              allow_config_change=["lr", "max_grad_norm"], **settings))
    assert (resumed["start_step"], resumed["steps"]) == (1, 4)
    history = [json.loads(line) for line in (out / "config_history.jsonl").read_text().splitlines()]
    assert history[-1]["changes"]["lr"] == [1e6, 1e-3] and history[-1]["resumed_at_step"] == 1
    assert all(r["learning_rate"] <= 1e-3 for r in read_metrics(out) if r["step"] > 1)


def test_resume_extends_the_run_with_a_new_lr(tmp_path, policy_dir, dpo_file):
    run(make_config(tmp_path, policy_dir, dpo_file, max_steps=1, save_every=1))
    resumed = run(make_config(tmp_path, policy_dir, dpo_file, max_steps=2, save_every=1, lr=5e-3, resume=True,
                              allow_config_change=["lr"]))
    assert (resumed["start_step"], resumed["steps"]) == (1, 2)
    records = read_metrics(tmp_path / "run")
    # step 2 of 2: cosine half-way down from the new peak 5e-3 (the saved schedule's peak was 1e-2)
    assert [r["step"] for r in records] == [1, 2] and records[1]["learning_rate"] == 2.5e-3


def test_full_disk_during_a_save_keeps_the_earlier_checkpoint(tmp_path, policy_dir, dpo_file, monkeypatch):
    save, calls = transformers.Trainer._save_checkpoint, []

    def fill_disk_on_second_save(self, model, trial):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return save(self, model, trial)

    monkeypatch.setattr(transformers.Trainer, "_save_checkpoint", fill_disk_on_second_save)
    with pytest.raises(OSError, match=r"^no space left on device while writing checkpoint step-00000002 .*"
                                      r"last good checkpoint is .*step-00000001 \(step 1\)"):
        run(make_config(tmp_path, policy_dir, dpo_file, max_steps=2, save_every=1, keep_last=2))
    assert [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()] == ["step-00000001"]


def test_second_process_is_refused(tmp_path, policy_dir, dpo_file):
    held = lock_output_dir(tmp_path / "run")
    try:
        with pytest.raises(BlockingIOError, match="is in use by process"):
            run(make_config(tmp_path, policy_dir, dpo_file))
    finally:
        held.close()


def test_missing_policy_directory_is_named(tmp_path, dpo_file):
    missing = tmp_path / "no_such_policy"
    with pytest.raises(FileNotFoundError, match=re.escape(f"{missing}: no such directory")):
        run(make_config(tmp_path, str(missing), dpo_file, max_steps=1))
