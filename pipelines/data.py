"""Training text: hub datasets by name or local files -> tokens packed to the sequence length -> batches
in a deterministic order (shared by every training pipeline).

A *source* is a hub dataset name (``teknium/OpenHermes-2.5``) or a local ``.txt`` / ``.jsonl`` /
``.json`` / ``.parquet`` file, optionally with ``name`` (hub subset), ``split`` (``a+b`` concatenates
splits, as in ``datasets``) and ``field`` (the column to read; by default the first of ``messages``,
``conversations``, ``text`` that exists). A column holding a list of chat turns — ``{role, content}``
or ShareGPT's ``{from, value}`` — is rendered with the tokenizer's chat template (or ``chat_template``
when given or when the tokenizer has none); a string column is used as is. Every record is one
document, followed by EOS. A ``.txt`` file is one document stream read line by line (line breaks
kept, no EOS inserted).

Packing (Appendix C: fixed 2048-token sequences) concatenates the token streams of all sources and
cuts them into rows of exactly ``seq_len`` tokens; the remainder of each 1000-document block is
dropped (the usual ``group_texts`` recipe, which keeps packing streaming and cacheable). The order in
which rows are used depends only on ``seed`` and the step (``BatchPlan``), so a run can resume at any
step and be split over any number of processes without changing what it sees.

Local files load with ``HF_HUB_OFFLINE=1``; hub datasets need the network or a warm ``datasets`` cache.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

LOCAL_SUFFIXES = {".txt": "text", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
FIELD_CANDIDATES = ("messages", "conversations", "text")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "system": "system", "tool": "tool", "function": "tool"}
# Zephyr-style template, used when the tokenizer has none (the Mamba2 hub checkpoints use the
# EleutherAI/gpt-neox-20b tokenizer, which ships without a chat template).
DEFAULT_CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
PACK_BLOCK = 1000


@dataclasses.dataclass(frozen=True)
class DataSource:
    """One dataset: hub name or local file; ``name`` = hub subset, ``split`` may join splits with ``+``."""

    path: str
    name: str | None = None
    split: str = "train"
    field: str | None = None

    @property
    def is_local(self) -> bool:
        """A local data file (by suffix); hub names and local dataset directories go to ``load_dataset``."""
        return Path(self.path).suffix in LOCAL_SUFFIXES

    @classmethod
    def parse(cls, entry: str | dict) -> "DataSource":
        """From a config entry: ``"path"`` or ``{path: ..., name: ..., split: ..., field: ...}``."""
        if isinstance(entry, str):
            return cls(entry)
        valid = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(entry, dict) or "path" not in entry or set(entry) - valid:
            raise ValueError(
                f"dataset entry {entry!r} must be a string (hub name or local file) or a mapping with "
                f"'path' and optionally {sorted(valid - {'path'})}"
            )
        return cls(**entry)


def load_records(source: DataSource, cache_dir: str | None = None):
    """The raw ``datasets.Dataset`` of one source: a local file, or ``load_dataset(path, name, split)`` for a
    hub name or a local dataset directory."""
    import datasets

    if source.is_local:
        path = Path(source.path)
        if not path.is_file():
            raise FileNotFoundError(f"dataset file {source.path!r} does not exist")
        check_text_file(path)
        builder = LOCAL_SUFFIXES[path.suffix]
        kwargs = {"keep_linebreaks": True} if builder == "text" else {}
        return datasets.load_dataset(builder, data_files=str(path), split="train", cache_dir=cache_dir, **kwargs)
    return datasets.load_dataset(source.path, source.name, split=source.split, cache_dir=cache_dir)


TEXT_PROBE = 1 << 20  # bytes read to tell text from binary


def check_text_file(path: Path) -> None:
    """A local data file must be non-empty, and (but for .parquet) UTF-8 text without NUL bytes in its first
    MiB; else ValueError naming it (``datasets`` would fail obscurely)."""
    if path.stat().st_size == 0:
        raise ValueError(f"dataset file {str(path)!r} is empty; give a file with data, or drop it from the config")
    if path.suffix == ".parquet":
        return
    import codecs

    with open(path, "rb") as f:
        head = f.read(TEXT_PROBE)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < TEXT_PROBE)
    except UnicodeDecodeError as err:
        raise ValueError(f"dataset file {str(path)!r} is not UTF-8 text (byte {err.start}); give a text file "
                         f"or convert it") from None
    if b"\0" in head:
        raise ValueError(f"dataset file {str(path)!r} holds NUL bytes at byte {head.index(0)}: a binary file, not "
                         "text; give a text file")
    if path.suffix == ".jsonl":
        for _ in jsonl_rows(path):
            pass


def jsonl_rows(path: Path):
    """The JSON objects of a .jsonl file, one per non-blank line, as (line number, object); a line that is not a
    JSON object raises ValueError naming the file and the line."""
    import json

    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"dataset file {str(path)!r}, line {number}: not valid JSON ({err.msg} at column "
                                 f"{err.colno}); one JSON object per line") from None
            if not isinstance(row, dict):
                raise ValueError(f"dataset file {str(path)!r}, line {number}: a {type(row).__name__}, not a JSON "
                                 "object {...}")
            yield number, row


def text_field(source: DataSource, columns: list[str], candidates=FIELD_CANDIDATES, what: str = "text") -> str:
    """The column holding the ``what`` (``source.field`` or the first of ``candidates`` present)."""
    if source.field is not None:
        if source.field not in columns:
            raise ValueError(f"dataset {source.path!r} has no column {source.field!r}; columns: {columns}")
        return source.field
    for name in candidates:
        if name in columns:
            return name
    raise ValueError(f"dataset {source.path!r}: none of the columns {columns} is one of {list(candidates)}; "
                     f"name the column holding the {what} with field=...")


def normalize_messages(turns: list[dict]) -> list[dict]:
    """``[{from: human, value: ...}]`` (ShareGPT) or ``[{role, content}]`` -> ``[{role, content}]``."""
    out = []
    for turn in turns:
        if "role" in turn:
            out.append({"role": turn["role"], "content": turn["content"]})
        else:
            role = SHAREGPT_ROLES.get(turn["from"])
            if role is None:
                raise ValueError(f"unknown chat role {turn['from']!r}; known: {sorted(SHAREGPT_ROLES)}")
            out.append({"role": role, "content": turn["value"]})
    return out


def render_document(value: Any, tokenizer, chat_template: str | None) -> str:
    """A record's text: a string as is, a list of chat turns through the chat template, then EOS."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, list):
        template = chat_template or getattr(tokenizer, "chat_template", None) or DEFAULT_CHAT_TEMPLATE
        text = tokenizer.apply_chat_template(normalize_messages(value), chat_template=template, tokenize=False)
    else:
        raise ValueError(f"cannot read text from a value of type {type(value).__name__}: {value!r:.80}")
    eos = tokenizer.eos_token or ""
    return text if text.rstrip().endswith(eos) else text + eos


def tokenize_source(source: DataSource, tokenizer, chat_template: str | None = None,
                    cache_dir: str | None = None, num_proc: int | None = None):
    """One source -> a ``datasets.Dataset`` with a single ``input_ids`` column (one row per document)."""
    records = load_records(source, cache_dir)
    if len(records) == 0:
        raise ValueError(f"dataset {source.path!r} (split {source.split!r}) is empty")
    field = text_field(source, records.column_names)
    stream = Path(source.path).suffix == ".txt"

    def tokenize(batch):
        if None in batch[field]:
            raise ValueError(f"dataset {source.path!r}: a record has no value in column {field!r}")
        texts = batch[field] if stream else [render_document(v, tokenizer, chat_template) for v in batch[field]]
        return {"input_ids": tokenizer(texts, add_special_tokens=False)["input_ids"]}

    return records.map(tokenize, batched=True, remove_columns=records.column_names, num_proc=num_proc,
                       desc=f"tokenizing {source.path}")


def pack(token_lists: list[list[int]], seq_len: int) -> list[list[int]]:
    """Concatenate and cut into rows of exactly ``seq_len`` tokens, dropping the remainder."""
    flat = [t for tokens in token_lists for t in tokens]
    return [flat[i: i + seq_len] for i in range(0, len(flat) - seq_len + 1, seq_len)]


def build_packed_dataset(sources: list[DataSource], tokenizer, seq_len: int, chat_template: str | None = None,
                         cache_dir: str | None = None, num_proc: int | None = None):
    """All sources, tokenized and packed: a ``datasets.Dataset`` of ``input_ids`` rows of ``seq_len``."""
    import datasets

    if not sources:
        raise ValueError("no datasets given: set datasets=[...] to hub names or local .txt/.jsonl files")
    if seq_len < 2:
        raise ValueError(f"seq_len={seq_len}: need at least 2 tokens (one prediction)")
    tokenized = datasets.concatenate_datasets(
        [tokenize_source(s, tokenizer, chat_template, cache_dir, num_proc) for s in sources]
    )
    packed = tokenized.map(lambda batch: {"input_ids": pack(batch["input_ids"], seq_len)}, batched=True,
                           batch_size=PACK_BLOCK, num_proc=num_proc, desc=f"packing to {seq_len} tokens")
    if len(packed) == 0:
        n_tokens = sum(len(ids) for ids in tokenized["input_ids"])
        raise ValueError(
            f"the data is too short: {n_tokens} tokens in {[s.path for s in sources]}, fewer than one "
            f"sequence of seq_len={seq_len}; add data or lower seq_len"
        )
    return packed.with_format("numpy")


def fingerprint(packed) -> str:
    """A cheap identity of the packed data (row count, length and three sample rows), to catch a resume
    on different data."""
    n = len(packed)
    rows = packed[[0, n // 2, n - 1]]["input_ids"]
    digest = hashlib.sha256(np.asarray(rows, dtype=np.int64).tobytes()).hexdigest()[:16]
    return f"{n}x{np.asarray(rows).shape[-1]}:{digest}"


@dataclasses.dataclass(frozen=True)
class BatchPlan:
    """Which packed rows form each optimizer step, and which of them this process takes.

    Step ``s`` uses rows ``perm_e[k*G:(k+1)*G]`` of epoch ``e = s // steps_per_epoch``,
    ``k = s % steps_per_epoch``, ``perm_e`` a permutation seeded by ``(seed, e)``; ``G`` = global batch.
    Micro-batch ``m`` of process ``r`` is the ``(m * world_size + r)``-th slice of ``micro_batch``
    rows, so 1 process x 2 accumulation steps and 2 processes x 1 step cover the same rows.
    """

    n_rows: int
    global_batch: int
    micro_batch: int
    world_size: int = 1
    rank: int = 0
    seed: int = 0

    def __post_init__(self):
        per_step = self.micro_batch * self.world_size
        if self.micro_batch < 1 or self.global_batch % per_step:
            raise ValueError(
                f"global_batch_size={self.global_batch} is not a multiple of micro_batch_size={self.micro_batch}"
                f" x {self.world_size} processes; choose sizes with global = micro x processes x accumulation"
            )
        if self.n_rows < self.global_batch:
            raise ValueError(
                f"the data is too short: {self.n_rows} packed sequences, fewer than one global batch of "
                f"{self.global_batch}; add data, lower seq_len or lower global_batch_size"
            )

    @property
    def accumulation_steps(self) -> int:
        return self.global_batch // (self.micro_batch * self.world_size)

    @property
    def steps_per_epoch(self) -> int:
        return self.n_rows // self.global_batch

    def global_rows(self, step: int) -> np.ndarray:
        """Row indices of optimizer step ``step`` (0-based): ``[global_batch]``."""
        epoch, k = divmod(step, self.steps_per_epoch)
        perm = np.random.default_rng([self.seed, epoch]).permutation(self.n_rows)
        return perm[k * self.global_batch: (k + 1) * self.global_batch]

    def micro_rows(self, step: int, micro: int) -> np.ndarray:
        """This process's rows for micro-batch ``micro`` of step ``step``: ``[micro_batch]``."""
        start = (micro * self.world_size + self.rank) * self.micro_batch
        return self.global_rows(step)[start: start + self.micro_batch]
