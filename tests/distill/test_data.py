"""Tokenizer, packing, sources and batch order (pipelines/data.py, pipelines/tiny.py), offline."""
import json

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from pipelines import data
from pipelines.tiny import build_byte_tokenizer

CORPUS = "pipelines/configs/data/tiny_corpus.txt"


@pytest.fixture(scope="module")
def tok():
    return build_byte_tokenizer()


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=60))
def test_byte_tokenizer_is_utf8_bytes(tok, text):
    assume("<|endoftext|>" not in text)  # the one special token is matched in text, by design
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert ids == list(text.encode("utf-8"))  # oracle: Python's own UTF-8 encoder
    assert tok.decode(ids) == text


def test_byte_tokenizer_round_trips_through_save_pretrained(tok, tmp_path):
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert len(again) == 257 and again.eos_token_id == 256
    assert again("héllo<|endoftext|>")["input_ids"] == list("héllo".encode()) + [256]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(0, 9), max_size=7), max_size=8), st.integers(1, 5))
def test_pack_is_the_stream_cut_into_full_rows(docs, seq_len):
    stream = [t for d in docs for t in d]
    rows = data.pack(docs, seq_len)
    assert all(len(r) == seq_len for r in rows)
    assert len(rows) == len(stream) // seq_len
    assert [t for r in rows for t in r] == stream[: len(rows) * seq_len]


def test_txt_file_packs_to_its_own_bytes(tok):
    packed = data.build_packed_dataset([data.DataSource(CORPUS)], tok, seq_len=64)
    text = open(CORPUS, encoding="utf-8").read().encode()
    rows = np.asarray(packed["input_ids"])
    assert rows.shape == (len(text) // 64, 64)  # one block of < 1000 lines: only the tail is dropped
    assert rows.reshape(-1).tolist() == list(text[: rows.size])


def test_chat_jsonl_uses_template_sharegpt_roles_and_eos(tok, tmp_path):
    path = tmp_path / "chat.jsonl"
    rows = [{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]},
            {"conversations": [{"role": "user", "content": "ok"}]}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    packed = data.build_packed_dataset([data.DataSource(str(path))], tok, seq_len=2)  # 44 tokens: nothing dropped
    text = tok.decode(np.asarray(packed["input_ids"]).reshape(-1))
    assert text == "<|user|>\nhi<|endoftext|>\n<|assistant|>\nyo<|endoftext|>\n<|user|>\nok<|endoftext|>\n"


def test_plain_text_jsonl_gets_eos_between_documents(tok, tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"text": "ab"}\n{"text": "cd"}\n')
    packed = data.build_packed_dataset([data.DataSource(str(path))], tok, seq_len=3)
    assert np.asarray(packed["input_ids"]).reshape(-1).tolist() == [97, 98, 256, 99, 100, 256]


def test_data_errors_are_clear(tok, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    short = tmp_path / "short.txt"
    short.write_text("tiny")
    other = tmp_path / "other.jsonl"
    other.write_text('{"body": "x"}\n')
    with pytest.raises(ValueError, match="too short: 4 tokens"):
        data.build_packed_dataset([data.DataSource(str(short))], tok, seq_len=64)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.build_packed_dataset([data.DataSource(str(tmp_path / "missing.txt"))], tok, seq_len=64)
    with pytest.raises(ValueError, match="field="):
        data.build_packed_dataset([data.DataSource(str(other))], tok, seq_len=2)
    with pytest.raises(ValueError, match="no column 'text'"):
        data.build_packed_dataset([data.DataSource(str(other), field="text")], tok, seq_len=2)
    with pytest.raises(Exception):  # datasets refuses an empty json file with its own error
        data.build_packed_dataset([data.DataSource(str(empty))], tok, seq_len=2)
    with pytest.raises(ValueError, match="must be a string"):
        data.DataSource.parse({"file": "x.txt"})
    with pytest.raises(ValueError, match="fewer than one global batch"):
        data.BatchPlan(n_rows=3, global_batch=4, micro_batch=1)
    with pytest.raises(ValueError, match="not a multiple"):
        data.BatchPlan(n_rows=30, global_batch=6, micro_batch=4)


def test_batch_plan_epochs_are_permutations_and_split_like_one_process():
    plan = data.BatchPlan(n_rows=23, global_batch=4, micro_batch=2, seed=3)
    assert plan.steps_per_epoch == 5 and plan.accumulation_steps == 2
    epoch0 = np.concatenate([plan.global_rows(s) for s in range(5)])
    assert len(set(epoch0.tolist())) == 20 and set(epoch0.tolist()) <= set(range(23))
    assert not np.array_equal(plan.global_rows(0), plan.global_rows(5))  # a new order each epoch
    one = [plan.micro_rows(7, m).tolist() for m in range(2)]
    two = [data.BatchPlan(23, 4, 2, world_size=2, rank=r, seed=3).micro_rows(7, 0).tolist() for r in range(2)]
    assert one == two
    assert np.array_equal(plan.global_rows(7), data.BatchPlan(23, 4, 1, seed=3).global_rows(7))
    assert not np.array_equal(plan.global_rows(0), data.BatchPlan(23, 4, 2, seed=4).global_rows(0))


def test_local_dataset_directory_loads_like_a_hub_dataset(tok, tmp_path):
    (tmp_path / "mydata").mkdir()
    (tmp_path / "mydata" / "train.jsonl").write_text('{"text": "ab"}\n{"text": "cd"}\n')
    packed = data.build_packed_dataset([data.DataSource.parse({"path": str(tmp_path / "mydata")})], tok, seq_len=3)
    assert np.asarray(packed["input_ids"]).reshape(-1).tolist() == [97, 98, 256, 99, 100, 256]
