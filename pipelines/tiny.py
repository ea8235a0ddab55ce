"""Offline stand-ins for hub assets, for the tiny presets and tests: a byte-level tokenizer and a tiny
random Mamba2 teacher checkpoint with that tokenizer saved beside it."""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from pipelines.atomic import replace_directory

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


SETTINGS = "tiny_settings.json"
"""What a built stand-in was made from (beside its weights), compared with what is asked for on reuse."""


def ensure_built(path: str | Path, settings: dict, build: Callable[[Path], None], key: str) -> Path:
    """``path`` built once by ``build(tmp)`` into a staging directory and renamed into place (so a run killed
    meanwhile leaves nothing half-made), with ``settings`` recorded; on reuse the recorded settings must equal
    ``settings``, else ValueError naming ``key`` (the config key that sets them)."""
    path = Path(path)
    if path.is_dir():
        saved = path / SETTINGS
        recorded = json.loads(saved.read_text()) if saved.is_file() else None
        if recorded != settings:
            raise ValueError(f"{path} was built with {key} settings {recorded} but the config now says {settings}; "
                             f"delete {path} to rebuild it, or use a new output_dir")
        return path
    from pipelines.checkpointing import no_shard_bars

    tmp = path.with_name(f".{path.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with no_shard_bars():
        build(tmp)
    (tmp / SETTINGS).write_text(json.dumps(settings))
    replace_directory(tmp, path)
    return path


def ensure_tiny_teacher(path: str | Path, seed: int = 0, key: str = "tiny_teacher", **shape) -> Path:
    """A random tiny Mamba2 teacher (``models.tiny.save_tiny_mamba2``, mamba_ssm format) with the byte tokenizer
    beside it, built once (``ensure_built``; ``key``: the config key giving ``shape``)."""
    from models.tiny import save_tiny_mamba2

    def build(tmp: Path) -> None:
        tokenizer = build_byte_tokenizer()
        save_tiny_mamba2(tmp, fmt="mamba_ssm", seed=seed, **{"vocab_size": len(tokenizer), **shape})
        tokenizer.save_pretrained(tmp)

    return ensure_built(path, {"seed": seed, **shape}, build, key)
