"""The prompts x of instruction data that the teacher answers for pseudo-label distillation (§4.3).

A record's prompt comes from its ``field`` (by default the first of ``messages``, ``conversations``,
``prompt`` present):

- chat turns — ``[{role, content}]`` (GenQA, UltraChat) or ShareGPT's ``[{from, value}]``
  (InfinityInstruct, OpenHermes-2.5): the leading system/user turns up to the first assistant turn (the
  dataset's own answers are dropped: the teacher writes ŷ);
- a string: one user turn.

The prompt is rendered with the tokenizer's chat template and its generation prompt
(``tokenizer.apply_chat_template(..., add_generation_prompt=True)``); a tokenizer without one (the
Mamba2 hub checkpoints' gpt-neox-20b) gets ``chat_template`` or the Zephyr-style plain template
``pipelines.data.DEFAULT_CHAT_TEMPLATE``::

    <|system|>\\n{system}<eos>\\n<|user|>\\n{user}<eos>\\n<|assistant|>\\n

Records without a user turn are dropped, and so are prompts longer than ``max_prompt_tokens`` (so that
prompt + ŷ fit ``seq_len``). Each kept prompt gets ``index``: its position among the kept prompts of all
sources in order, the key of the pseudo-label cache.
"""
from __future__ import annotations

from pipelines.data import DEFAULT_CHAT_TEMPLATE, DataSource, load_records, normalize_messages, text_field

PROMPT_FIELDS = ("messages", "conversations", "prompt")


def prompt_turns(value) -> list[dict] | None:
    """The turns before the first assistant turn (``[{role, content}]``), or None without a user turn."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list):
        raise ValueError(f"cannot read a prompt from a value of type {type(value).__name__}: {value!r:.80}")
    turns = []
    for turn in normalize_messages(value):
        if turn["role"] == "assistant":
            break
        turns.append(turn)
    return turns if any(t["role"] == "user" for t in turns) else None


def load_prompts(sources: list[DataSource], tokenizer, max_prompt_tokens: int, chat_template: str | None = None,
                 cache_dir: str | None = None, num_proc: int | None = None):
    """(a ``datasets.Dataset`` of ``index`` and ``prompt_ids`` — the rendered prompts' token ids — over all
    ``sources``, the number of records dropped)."""
    import datasets

    template = chat_template or getattr(tokenizer, "chat_template", None) or DEFAULT_CHAT_TEMPLATE
    parts, dropped = [], 0
    for source in sources:
        records = load_records(source, cache_dir)
        field = text_field(source, records.column_names, PROMPT_FIELDS, "chat turns or prompt")

        def render(batch):
            ids = []
            for value in batch[field]:
                turns = prompt_turns(value)
                ids.append(None if turns is None else tokenizer.apply_chat_template(
                    turns, chat_template=template, add_generation_prompt=True, tokenize=True, return_dict=False))
            return {"prompt_ids": ids}

        rendered = records.map(render, batched=True, remove_columns=records.column_names, num_proc=num_proc,
                               desc=f"prompts of {source.path}")
        kept = rendered.filter(lambda ids: ids is not None and len(ids) <= max_prompt_tokens,
                               input_columns="prompt_ids", num_proc=num_proc)
        dropped += len(rendered) - len(kept)
        parts.append(kept)
    prompts = datasets.concatenate_datasets(parts)
    if len(prompts) == 0:
        raise ValueError(f"no usable prompt in {[s.path for s in sources]}: every record lacks a user turn or "
                         f"renders to more than {max_prompt_tokens} tokens (seq_len - max_new_tokens); raise "
                         "seq_len or lower max_new_tokens")
    return prompts.add_column("index", list(range(len(prompts)))), dropped
