"""Preference data for DPO and KTO: hub datasets or local files, checked and put in TRL's formats.

TRL's trainers tokenize the data themselves; this module only loads it (``pipelines.data``), checks
that it has what the chosen loss needs, and normalises two common layouts:

- DPO: ``prompt`` / ``chosen`` / ``rejected``. ``chosen`` and ``rejected`` may be strings (the prompt
  is then plain text) or chat turns ``[{role, content}, ...]``. In UltraFeedback
  (``HuggingFaceH4/ultrafeedback_binarized``) they are whole conversations that repeat the user turn
  while ``prompt`` is a bare string; the string is dropped and TRL takes the shared leading turns of
  chosen/rejected as the prompt (``trl.data_utils.extract_prompt``), so the chat template renders the
  prompt exactly as during distillation. A bare-string prompt before chat completions that start with
  the assistant turn becomes the user turn.
- KTO: ``prompt`` / ``completion`` / ``label`` (bool: desirable or not). Paired data is turned into
  this *unpaired* form (each chosen -> label true, each rejected -> label false,
  ``trl.data_utils.unpair_preference_dataset``) and shuffled with the seed, so micro-batches mix both
  labels (TRL then reads the data in order: KTO pairs each completion with its neighbour's prompt for
  the KL baseline z_ref of Eq 15).

Extra columns are dropped. Conversational data is rendered by the tokenizer's chat template, or the
Zephyr-style default of ``pipelines.data`` when it has none (gpt-neox-20b, the Mamba2 tokenizer).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from pipelines.data import DEFAULT_CHAT_TEMPLATE, DataSource, jsonl_rows, load_records

REQUIRED = {"dpo": ("prompt", "chosen", "rejected"), "kto": ("prompt", "completion", "label")}
PAIRED = ("chosen", "rejected")


def _is_chat(value) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], dict) and "role" in value[0]


def _describe(source: DataSource) -> str:
    return f"{source.path!r}" + ("" if source.is_local else f" (split {source.split!r})")


def check_columns(columns: list[str], loss: str, where: str) -> None:
    """Raise ValueError naming the missing columns of ``loss``'s format and the data they are missing from."""
    have = set(columns)
    if loss == "dpo":
        missing = [c for c in REQUIRED["dpo"] if c not in have]
        if set(PAIRED) <= have:  # chat-format chosen/rejected carry the prompt themselves
            return
    else:
        missing = [c for c in REQUIRED["kto"] if c not in have]
        if not missing or {"prompt", *PAIRED} <= have:  # unpaired, or paired to unpair
            return
    need = ("prompt, chosen, rejected (strings or chat turns)" if loss == "dpo" else
            "prompt, completion, label (bool) — or prompt, chosen, rejected, which are unpaired")
    raise ValueError(
        f"preference data {where} lacks column(s) {missing} that loss={loss} needs: {need}. "
        f"Its columns are {sorted(have)}; rename them or use loss={'kto' if loss == 'dpo' else 'dpo'} "
        "if the data is in that format"
    )


def _valid_text(value) -> bool:
    """A string, or chat turns ``[{role: str, content: str}, ...]``."""
    return isinstance(value, str) or (isinstance(value, list) and bool(value) and all(
        isinstance(t, dict) and isinstance(t.get("role"), str) and isinstance(t.get("content"), str) for t in value))


def _check_text(value, column: str, row: str, where: str) -> None:
    if not _valid_text(value):
        found = f"no {column}" if value is None else f"{column}={value!r:.60}, not text"
        raise ValueError(f"preference data {where}: {row} has {found}; {column} must be a string or chat turns "
                         "[{role, content}] (fix or drop it)")


TEXT_COLUMNS = ("prompt", *PAIRED, "completion")


def check_values(records, where: str, source: DataSource) -> None:
    """Every prompt / chosen / rejected / completion value is text (TRL would fail deep inside otherwise). A local
    .jsonl file is checked line by line as written (``datasets`` may coerce a stray number into the column)."""
    if Path(source.path).suffix == ".jsonl":
        columns = [c for c in TEXT_COLUMNS if c in records.column_names]
        for number, row in jsonl_rows(Path(source.path)):
            for column in columns:
                _check_text(row.get(column), column, f"line {number}", where)
        return
    for column in TEXT_COLUMNS:
        if column in records.column_names:
            for row, value in enumerate(records[column]):
                _check_text(value, column, f"row {row + 1}", where)


def _check_labels(dataset, where: str):
    """KTO labels must be booleans; 0/1 (equal to False/True) are converted."""
    from datasets import Value

    values = set(dataset.unique("label"))
    if not values <= {True, False}:
        raise ValueError(f"preference data {where}: column 'label' must hold true/false (or 1/0), found "
                         f"{sorted(map(repr, values))[:5]}")
    if dataset.features["label"] != Value("bool"):
        dataset = dataset.cast_column("label", Value("bool"))
    return dataset


def load_preferences(entry: str | dict, split: str, loss: str, seed: int, cache_dir: str | None = None):
    """A ``datasets.Dataset`` in TRL's format for ``loss`` ("dpo" or "kto"); see the module docstring."""
    from trl.data_utils import extract_prompt, unpair_preference_dataset

    source = DataSource.parse(entry)
    if isinstance(entry, str) or "split" not in entry:
        source = dataclasses.replace(source, split=split)
    where = _describe(source)
    records = load_records(source, cache_dir)
    if len(records) == 0:
        raise ValueError(f"preference data {where} is empty")
    check_columns(records.column_names, loss, where)
    first = records[0]
    paired = set(PAIRED) <= set(records.column_names)
    keep = [c for c in ("prompt", *PAIRED) if c in records.column_names] if paired else list(REQUIRED["kto"])
    records = records.select_columns(keep)
    check_values(records, where, source)
    if paired and "prompt" in keep and _is_chat(first["chosen"]) and isinstance(first["prompt"], str):
        if first["chosen"][0]["role"] == "assistant":  # chat completions after a plain-text prompt
            records = records.map(lambda row: {"prompt": [{"role": "user", "content": row["prompt"]}]},
                                  desc="prompts as user turns")
        else:  # UltraFeedback: the conversations repeat the prompt turn(s)
            records = records.remove_columns("prompt")
    if loss == "dpo":
        return records
    if paired:
        if "prompt" not in records.column_names:
            records = records.map(extract_prompt, desc="extracting prompts")
        records = unpair_preference_dataset(records)
    return _check_labels(records, where).shuffle(seed=seed).flatten_indices()


def is_conversational(dataset) -> bool:
    """Whether the examples are chat turns (then the tokenizer needs a chat template)."""
    first = dataset[0]
    return any(_is_chat(first.get(key)) for key in ("prompt", "chosen", "rejected", "completion"))


def ensure_chat_template(tokenizer, chat_template: str | None) -> None:
    """Give ``tokenizer`` ``chat_template`` (or the distillation default when it has none)."""
    if chat_template is not None or not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = chat_template or DEFAULT_CHAT_TEMPLATE
