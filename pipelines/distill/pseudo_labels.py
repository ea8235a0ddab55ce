"""Teacher-generated pseudo-labels (§4.3): x = the first ``prompt_length`` tokens of a data sequence,
ŷ = the teacher's continuation up to ``seq_len``; Eq 13 averages the KL over the positions of ŷ."""
from __future__ import annotations

import torch


@torch.no_grad()
def generate_pseudo_labels(teacher, input_ids: torch.Tensor, prompt_length: int, sample: bool, seed: int,
                           n_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace everything after the prompt by the teacher's continuation.

    input_ids: ``[B, L]`` data tokens; only ``input_ids[:, :prompt_length]`` (x) is kept.
    sample: sample from the teacher's full distribution (no top-k/top-p; seeded by ``seed``, without
    touching the global RNG) instead of greedy decoding. n_tokens: the tokenizer's size; ids from there
    up to the (padded) vocabulary are never generated, nor is EOS before ŷ reaches length L.
    Returns ``(ids [B, L], mask [B, L])``: ids = x ++ ŷ; mask is 1 at the positions whose next-token
    distribution is conditioned on (x, ŷ_{1:t}) — t = prompt_length-1 .. L-1 — and 0 inside the prompt.
    """
    batch, length = input_ids.shape
    devices = [input_ids.device] if input_ids.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        new = length - prompt_length
        padding = list(range(n_tokens, teacher.config.vocab_size))
        decoding = {"do_sample": True, "top_k": 0, "top_p": 1.0, "temperature": 1.0} if sample else {"do_sample": False}
        ids = teacher.generate(input_ids[:, :prompt_length], max_new_tokens=new, min_new_tokens=new,
                               suppress_tokens=padding or None, **decoding)
    if ids.shape != (batch, length):
        raise RuntimeError(f"teacher.generate returned {tuple(ids.shape)}, expected {(batch, length)}")
    mask = torch.zeros_like(ids, dtype=torch.bool)
    mask[:, prompt_length - 1:] = True
    return ids, mask
