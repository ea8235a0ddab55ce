"""Byte-level BPE tokenizer trained on the demo's training split, as a transformers tokenizer.

Byte-level (GPT-2 alphabet of 256 byte symbols), so any UTF-8 text encodes without unknown tokens;
``<|endoftext|>`` (id 0) is the only special token and serves as eos, bos, pad and unk, as in GPT-2.
Training is deterministic: the same texts and vocab size give a byte-identical ``tokenizer.json``,
also across processes (tested). Save it next to every checkpoint with ``save_pretrained(dir)``.

    tok = train_tokenizer(doc.text for doc in corpus.train)     # vocab 2048
    tok("In the beginning").input_ids
"""
from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

EOS = "<|endoftext|>"
MIN_VOCAB = 256 + 1  # the byte alphabet plus EOS


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2048) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE with ``vocab_size`` entries (merges stop earlier on a tiny corpus)."""
    if vocab_size < MIN_VOCAB:
        raise ValueError(f"vocab_size={vocab_size} is smaller than the byte alphabet plus EOS; "
                         f"use at least {MIN_VOCAB}")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=EOS, bos_token=EOS, unk_token=EOS,
                                   pad_token=EOS)
