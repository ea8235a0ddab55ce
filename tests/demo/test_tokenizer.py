"""The byte-level BPE: deterministic across processes, lossless, saved and reloaded identically."""
import hashlib
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from pipelines.demo.tokenizer import EOS, train_tokenizer

TRAIN_IN_SUBPROCESS = """
import hashlib, sys
from pipelines.demo.corpus import load_corpus
from pipelines.demo.tokenizer import train_tokenizer
tok = train_tokenizer((d.text for d in load_corpus().train[:200]), 1024)
sys.stdout.write(hashlib.sha256(tok.backend_tokenizer.to_str().encode()).hexdigest())
"""


@pytest.fixture(scope="module")
def tokenizer(demo_data):
    return AutoTokenizer.from_pretrained(demo_data.tokenizer)


def test_training_is_deterministic_across_processes(corpus):
    # Rust hash maps are seeded per process, so only separate processes can expose order dependence
    digests = {subprocess.run([sys.executable, "-c", TRAIN_IN_SUBPROCESS], capture_output=True, text=True,
                              check=True).stdout for _ in range(2)}
    here = train_tokenizer((d.text for d in corpus.train[:200]), 1024)
    digests.add(hashlib.sha256(here.backend_tokenizer.to_str().encode()).hexdigest())
    assert len(digests) == 1


def test_vocab_and_special_token(tokenizer, demo_data):
    assert len(tokenizer) == 2048 == demo_data.manifest["vocab"]
    assert tokenizer.eos_token == tokenizer.pad_token == EOS and tokenizer.eos_token_id == 0
    ids = tokenizer("In the beginning God created the heaven and the earth.").input_ids
    assert 0 not in ids and len(ids) < 20   # merges learnt: far fewer tokens than 55 bytes


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_text_round_trips(tokenizer, text):
    ids = tokenizer(text, add_special_tokens=False).input_ids
    assert all(0 <= i < len(tokenizer) for i in ids)
    assert tokenizer.decode(ids) == text


def test_reloaded_tokenizer_encodes_identically(tokenizer, corpus, tmp_path):
    text = corpus.heldout[0].text
    tokenizer.save_pretrained(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path)(text).input_ids == tokenizer(text).input_ids


def test_too_small_vocab_raises():
    with pytest.raises(ValueError, match="vocab_size=100"):
        train_tokenizer(["a b c"], 100)
