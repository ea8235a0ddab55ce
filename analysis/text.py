"""Text -> token ids for the analysis commands, and the windows they run the model on.

Tokenizer choice, in order: ``tokenizer`` (a dir or hub name), the checkpoint dir's own tokenizer files
(AutoTokenizer), else byte-level ids (id = UTF-8 byte value, the same ids as the project's offline byte
tokenizer) with a note saying so — meaningful only for models trained on bytes.
"""

from __future__ import annotations

from pathlib import Path

import torch

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


def load_token_ids(
    text_path: str | Path,
    checkpoint: str | Path | None = None,
    tokenizer: str | None = None,
    max_tokens: int | None = None,
    vocab_size: int | None = None,
) -> tuple[torch.Tensor, str]:
    """Read ``text_path`` (UTF-8) and :func:`tokenize` it -> (ids ``[N]`` int64, note naming the tokenizer)."""
    path = Path(text_path)
    if not path.is_file():
        raise ValueError(f"text file {str(path)!r} does not exist; pass --text PATH to a UTF-8 text file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"text file {str(path)!r} is not UTF-8 text ({err}); pass a UTF-8 text file") from None
    if len(text.strip()) == 0:
        raise ValueError(f"text file {str(path)!r} is empty; pass a UTF-8 text file with some text in it")
    return tokenize(text, checkpoint, tokenizer, max_tokens, vocab_size)


def tokenize(
    text: str,
    checkpoint: str | Path | None = None,
    tokenizer: str | None = None,
    max_tokens: int | None = None,
    vocab_size: int | None = None,
) -> tuple[torch.Tensor, str]:
    """``text`` -> (ids ``[N]`` int64 (at most ``max_tokens``), a note naming the tokenizer used).

    A ``checkpoint`` that is not a local directory is a hub name: its tokenizer must be named with
    ``tokenizer`` (the state-spaces/mamba2-* repos ship none; they use EleutherAI/gpt-neox-20b)."""
    if max_tokens is not None and max_tokens < 2:
        raise ValueError(f"max_tokens={max_tokens} must be >= 2 (or None: the whole text)")
    source = _tokenizer_source(checkpoint, tokenizer)
    if source is not None:
        ids = _auto_tokenizer(source)(text)["input_ids"]
        note = f"tokenizer: {source}"
    else:
        ids = list(text.encode("utf-8"))
        note = "tokenizer: none found (no tokenizer files in the checkpoint, no --tokenizer): byte-level ids"
    ids = torch.tensor(ids[:max_tokens] if max_tokens else ids, dtype=torch.long)
    if ids.numel() < 2:
        raise ValueError(f"the text gives {ids.numel()} tokens; need at least 2")
    if vocab_size is not None and int(ids.max()) >= vocab_size:
        raise ValueError(
            f"token id {int(ids.max())} >= the model's vocab_size {vocab_size} ({note}); pass --tokenizer"
        )
    return ids, note


def _tokenizer_source(checkpoint, tokenizer) -> str | None:
    """The tokenizer :func:`tokenize` uses (module docstring's order); None: byte-level ids."""
    if tokenizer is not None or checkpoint is None:
        return tokenizer
    if not Path(checkpoint).is_dir():
        raise ValueError(f"{checkpoint!r} is not a local checkpoint dir: name its tokenizer with --tokenizer "
                         "(Mamba2 hub checkpoints use EleutherAI/gpt-neox-20b)")
    return str(checkpoint) if any((Path(checkpoint) / f).is_file() for f in _TOKENIZER_FILES) else None


def _auto_tokenizer(source: str):
    """AutoTokenizer of a local dir or hub id; a missing dir / unreachable hub is `models.hub`'s one error."""
    from transformers import AutoTokenizer

    from models.hub import resolve_dir

    return AutoTokenizer.from_pretrained(resolve_dir(source, allow_patterns=["*.json", "*.txt", "*.model"],
                                                     holds="the tokenizer files"))


def token_texts(ids: torch.Tensor, checkpoint=None, tokenizer: str | None = None) -> list[str]:
    """Each id of ``ids`` [N] as the text it stands for, decoded by the tokenizer :func:`tokenize` used
    (byte-level: the byte, \\xNN when it is not printable ASCII)."""
    source = _tokenizer_source(checkpoint, tokenizer)
    if source is not None:
        tok = _auto_tokenizer(source)
        return [tok.decode([i]) for i in ids.tolist()]
    return [chr(i) if 32 <= i < 127 else f"\\x{i:02x}" for i in ids.tolist()]


def windows(ids: torch.Tensor, seq_len: int) -> list[torch.Tensor]:
    """Cut a stream ``[N]`` into consecutive ``[1, ≤seq_len]`` windows (the last may be shorter)."""
    if seq_len < 2:
        raise ValueError(f"seq_len={seq_len} must be >= 2")
    return [w.unsqueeze(0) for w in ids.reshape(-1).split(seq_len) if w.numel() >= 2]

