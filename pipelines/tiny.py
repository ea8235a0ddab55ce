"""Offline stand-ins for hub assets, for the tiny presets and tests: a byte-level tokenizer and a tiny
random Mamba2 teacher checkpoint with that tokenizer saved beside it."""
from __future__ import annotations

from pathlib import Path

EOS = "<|endoftext|>"


def build_byte_tokenizer():
    """A byte-level tokenizer: token id = byte value (0..255), plus ``<|endoftext|>`` = 256 as EOS/BOS/PAD.

    Built offline with the ``tokenizers`` library (BPE with the 256 byte symbols and no merges) and
    wrapped as a ``PreTrainedTokenizerFast``, so ``save_pretrained`` / ``AutoTokenizer.from_pretrained``
    round-trip it. Lossless on any UTF-8 text.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {symbol: byte for byte, symbol in bytes_to_unicode().items()}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=EOS, pad_token=EOS)


def ensure_tiny_teacher(path: str | Path, seed: int = 0, **shape) -> Path:
    """Write (once) a random tiny Mamba2 teacher (``models.tiny.save_tiny_mamba2``, mamba_ssm format)
    with the byte tokenizer beside it; reuse it if ``path`` already holds one."""
    from models.tiny import save_tiny_mamba2

    path = Path(path)
    if not (path / "config.json").is_file():
        tokenizer = build_byte_tokenizer()
        shape.setdefault("vocab_size", len(tokenizer))
        save_tiny_mamba2(path, fmt="mamba_ssm", seed=seed, **shape)
        tokenizer.save_pretrained(path)
    return path
