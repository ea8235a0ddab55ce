"""Preference data: the columns each loss needs (errors name them and the file), UltraFeedback's layout,
KTO's unpaired form, label checks."""
import pytest

from pipelines.rl.data import is_conversational, load_preferences
from rl_helpers import PAIRS, ultrafeedback_rows, write_jsonl


def test_dpo_file_missing_rejected_names_column_and_file(tmp_path):
    path = write_jsonl(tmp_path / "half.jsonl", [{"prompt": p["prompt"], "chosen": p["chosen"]} for p in PAIRS])
    with pytest.raises(ValueError, match=r"half\.jsonl.*\['rejected'\].*loss=dpo"):
        load_preferences(path, "train", "dpo", seed=0)


def test_kto_file_missing_label_names_column_and_file(tmp_path):
    rows = [{"prompt": p["prompt"], "completion": p["chosen"]} for p in PAIRS]
    path = write_jsonl(tmp_path / "unlabelled.jsonl", rows)
    with pytest.raises(ValueError, match=r"unlabelled\.jsonl.*\['label'\].*loss=kto"):
        load_preferences(path, "train", "kto", seed=0)


def test_kto_data_given_to_dpo_points_at_the_right_loss(tmp_path):
    path = write_jsonl(tmp_path / "kto.jsonl", [{"prompt": "a", "completion": "b", "label": True}])
    with pytest.raises(ValueError, match=r"\['chosen', 'rejected'\].*use loss=kto"):
        load_preferences(path, "train", "dpo", seed=0)


def test_kto_labels_must_be_boolean(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "a", "completion": "b", "label": "good"}])
    with pytest.raises(ValueError, match=r"'label' must hold true/false.*'good'"):
        load_preferences(path, "train", "kto", seed=0)


def test_kto_integer_labels_become_booleans(tmp_path):
    rows = [{"prompt": "a", "completion": "b", "label": i % 2} for i in range(4)]
    data = load_preferences(write_jsonl(tmp_path / "ints.jsonl", rows), "train", "kto", seed=0)
    assert sorted(data["label"]) == [False, False, True, True]


def test_empty_file_is_an_error(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ValueError, match="empty"):
        load_preferences(str(tmp_path / "empty.jsonl"), "train", "dpo", seed=0)


def test_paired_data_is_unpaired_for_kto(tmp_path):
    data = load_preferences(write_jsonl(tmp_path / "dpo.jsonl", PAIRS), "train", "kto", seed=0)
    assert sorted(data.column_names) == ["completion", "label", "prompt"]
    assert len(data) == 2 * len(PAIRS) and sum(data["label"]) == len(PAIRS)
    expected = sorted((p["prompt"], p[key], key == "chosen") for p in PAIRS for key in ("chosen", "rejected"))
    assert sorted(zip(data["prompt"], data["completion"], data["label"])) == expected
    assert data["label"] != sorted(data["label"]) and data["label"] != sorted(data["label"], reverse=True)


def test_ultrafeedback_layout(tmp_path):
    path = write_jsonl(tmp_path / "uf.jsonl", ultrafeedback_rows())
    dpo = load_preferences(path, "train_prefs", "dpo", seed=0)
    # the string prompt is dropped: TRL takes the shared user turn of chosen/rejected as the prompt
    assert dpo.column_names == ["chosen", "rejected"] and is_conversational(dpo)
    kto = load_preferences(path, "train_prefs", "kto", seed=0)
    assert sorted(kto.column_names) == ["completion", "label", "prompt"]
    row = kto[0]
    assert row["prompt"][0]["role"] == "user" and [m["role"] for m in row["completion"]] == ["assistant"]


def test_plain_prompt_before_chat_completions_becomes_the_user_turn(tmp_path):
    rows = [{"prompt": p["prompt"], "chosen": [{"role": "assistant", "content": p["chosen"]}],
             "rejected": [{"role": "assistant", "content": p["rejected"]}]} for p in PAIRS]
    data = load_preferences(write_jsonl(tmp_path / "chat.jsonl", rows), "train", "dpo", seed=0)
    assert data[0]["prompt"] == [{"role": "user", "content": PAIRS[0]["prompt"]}]
    assert data[0]["chosen"] == rows[0]["chosen"]
