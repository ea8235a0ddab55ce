"""Pseudo-label distillation (§4.3, Eq 13): the teacher answers the prompts x of the instruction data, and
the student learns KL(p_T || p_S) + λ·L_hidden on those responses ŷ only.

1. Prompts (``prompts.py``): the leading system/user turns of each record, chat-templated; prompts longer
   than ``seq_len − max_new_tokens`` tokens are dropped.
2. Responses: every process of an ``accelerate launch`` takes its share of the prompts not yet cached
   (``accelerator.split_between_processes``) and has the teacher generate ŷ for ``pseudo_label_batch_size``
   of them at a time — left-padded, greedy (or sampled), at most ``max_new_tokens`` tokens, stopping at
   EOS (kept as ŷ's last token) — appending each batch to its shard of the cache (``label_cache.py``).
3. Training rows: one example per row, ``input_ids`` = x ++ ŷ right-padded to ``seq_len``, and
   ``loss_mask[t]`` = 1 where token t+1 belongs to ŷ: the positions whose next-token distribution
   p(·|ŷ_{1:t}, x) Eq 13 matches (the last prompt token's included, predicting ŷ_1). Prompt and padding
   positions carry no loss, neither the KL nor L_hidden (Eq 10), which is averaged over the same positions.
   Right padding follows every real token, so a causal model's outputs on x and ŷ are unaffected by it.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from pipelines.data import DataSource
from pipelines.distill.label_cache import PseudoLabelCache
from pipelines.distill.prompts import load_prompts
from pipelines.metrics import interactive

CACHE_DIR = "pseudo_labels"


@torch.no_grad()
def generate_responses(teacher, tokenizer, prompts: list[list[int]], max_new_tokens: int, sample: bool = False,
                       seed: int = 0) -> list[tuple[list[int], bool]]:
    """The teacher's response to each prompt (token ids) as (ŷ ids, ended with EOS), one batched
    ``generate`` with left padding. ``sample``: from the full distribution, seeded by ``seed`` (the
    global RNG untouched); otherwise greedy. Ids beyond the tokenizer (vocabulary padding) are never
    generated."""
    device = next(teacher.parameters()).device
    batch = tokenizer.pad({"input_ids": prompts}, padding=True, padding_side="left", return_tensors="pt").to(device)
    padding = list(range(len(tokenizer), teacher.config.vocab_size))
    decoding = dict(do_sample=True, top_k=0, top_p=1.0, temperature=1.0) if sample else dict(do_sample=False)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        out = teacher.generate(**batch, max_new_tokens=max_new_tokens, eos_token_id=tokenizer.eos_token_id,
                               pad_token_id=tokenizer.pad_token_id, suppress_tokens=padding or None, **decoding)
    responses = []
    for ids in out[:, batch["input_ids"].shape[1]:].tolist():
        if tokenizer.eos_token_id in ids:
            responses.append((ids[: ids.index(tokenizer.eos_token_id) + 1], True))
        else:
            responses.append((ids, False))
    return responses


def training_rows(prompts, cached, seq_len: int, pad_id: int, num_proc: int | None = None):
    """Prompts and their cached ŷ (both in prompt-index order) -> ``input_ids`` / ``loss_mask`` rows of
    ``seq_len`` (module docstring, 3)."""
    import datasets

    def row(prompt_ids, response_ids):
        ids = prompt_ids + response_ids
        mask = [0] * (len(prompt_ids) - 1) + [1] * len(response_ids)
        return {"input_ids": ids + [pad_id] * (seq_len - len(ids)), "loss_mask": mask + [0] * (seq_len - len(mask))}

    pairs = datasets.concatenate_datasets([prompts.select_columns("prompt_ids"),
                                           cached.select_columns("response_ids")], axis=1)
    return pairs.map(row, input_columns=["prompt_ids", "response_ids"], remove_columns=pairs.column_names,
                     num_proc=num_proc, desc="pseudo-label rows")


def generation_meta(cfg, teacher_path: str, tokenizer, prompts) -> dict:
    """What the cached responses depend on (``label_cache.META``)."""
    n = len(prompts)
    sample = prompts[sorted({0, n // 2, n - 1})]["prompt_ids"]
    digest = hashlib.sha256(repr(sample).encode()).hexdigest()[:16]
    return {"teacher": teacher_path, "tokenizer": tokenizer.name_or_path, "chat_template": tokenizer.chat_template,
            "datasets": cfg.datasets, "seq_len": cfg.seq_len, "max_new_tokens": cfg.max_new_tokens,
            "sampling": cfg.pseudo_label_sampling, "seed": cfg.seed if cfg.pseudo_label_sampling == "sample" else None,
            "prompts": n, "prompts_fingerprint": digest}


def build_pseudo_label_dataset(cfg, tokenizer, teacher_path: str, accelerator):
    """Prompts -> cached teacher responses (generated where missing, on every process) -> training rows.
    Collective: every process calls it."""
    from tqdm.auto import tqdm

    from pipelines.distill.teacher_student import load_teacher

    if tokenizer.pad_token is None:  # gpt-neox-20b has none; padding is masked out of every loss
        tokenizer.pad_token = tokenizer.eos_token
    with accelerator.local_main_process_first():
        prompts, dropped = load_prompts([DataSource.parse(d) for d in cfg.datasets], tokenizer,
                                        cfg.seq_len - cfg.max_new_tokens, cfg.chat_template, cfg.data_cache_dir,
                                        cfg.num_proc)
    cache = PseudoLabelCache(Path(cfg.output_dir) / CACHE_DIR)
    meta = generation_meta(cfg, teacher_path, tokenizer, prompts)
    cache.check_meta(meta)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        cache.write_meta(meta)
        cache.repair()
    accelerator.wait_for_everyone()
    done = cache.done()
    pending = [i for i in range(len(prompts)) if i not in done]
    accelerator.print(f"pseudo-labels: {len(prompts):,} prompts ({dropped:,} dropped: no user turn or longer than "
                      f"{cfg.seq_len - cfg.max_new_tokens} tokens), {len(done):,} cached in {cache.root}, "
                      f"{len(pending):,} to generate")
    if pending:
        teacher = load_teacher(teacher_path).to(accelerator.device)
        size = cfg.pseudo_label_batch_size
        with accelerator.split_between_processes(pending) as mine:
            for start in tqdm(range(0, len(mine), size), desc="teacher responses", unit="batch",
                              disable=not (accelerator.is_local_main_process and interactive())):
                indices = mine[start: start + size]
                prompt_ids = prompts[indices]["prompt_ids"]  # index i is row i
                seed = int(np.random.SeedSequence([cfg.seed, indices[0]]).generate_state(1)[0])
                with accelerator.autocast():
                    responses = generate_responses(teacher, tokenizer, prompt_ids, cfg.max_new_tokens,
                                                   cfg.pseudo_label_sampling == "sample", seed)
                cache.append(accelerator.process_index, [
                    {"index": i, "response_ids": r, "finished": finished} for i, (r, finished) in zip(indices, responses)])
        del teacher
    accelerator.wait_for_everyone()
    with accelerator.local_main_process_first():
        cached = cache.load(cfg.data_cache_dir)
        if list(cached["index"]) != list(range(len(prompts))):
            raise RuntimeError(f"the pseudo-label cache {cache.root} holds {len(cached)} responses for "
                               f"{len(prompts)} prompts after generation")
        rows = training_rows(prompts, cached, cfg.seq_len, tokenizer.pad_token_id, cfg.num_proc)
    return rows.with_format("numpy")
