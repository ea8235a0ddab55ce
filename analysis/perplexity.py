"""Perplexity of a causal LM on a token stream: PPL = exp(mean token NLL), sliding windows.

The one implementation every command uses (``pipelines.eval`` for Tables 3, 4 and 13, the demo, and
the Table 7 clamp experiment); the hub corpora and their document handling live in
``pipelines/eval/perplexity.py``.

Windows (context length ``L``, stride ``S``, 1 ≤ S ≤ L): full windows start at 0, S, 2S, … while
they fit in the stream; tokens after the last full window are not scored (GPTQ drops the partial
tail too). Each window is run from a fresh state. Window k scores the targets that no earlier window
scored, predicting token t from tokens [begin_k, t) of its own window; the first token of the stream
is never scored. With S = L (the default, = GPTQ) every window scores its last L − 1 tokens; with
S < L every token after the first is scored exactly once with at least L − S tokens of context.

    PPL = exp( Σ_scored −log p(x_t | window context) / #scored )

computed in float64 from per-token cross-entropies, which is exactly GPTQ's
``exp(Σ_windows mean_loss · L / (n_windows · L))`` when S = L.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from tqdm import tqdm


@dataclass
class PerplexityResult:
    """Perplexity of one corpus, with everything needed to recompute it."""

    corpus: str
    ppl: float            # exp(nll_sum / tokens)
    nll_sum: float        # Σ −log p over the scored tokens (nats)
    tokens: int           # number of scored tokens
    windows: int
    context_len: int
    stride: int
    stream_tokens: int    # tokens in the corpus stream (after any max_windows cut)
    source: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def metrics(self) -> dict:
        """``{"ppl", "nll" (mean nats per scored token), "tokens"}``."""
        return {"ppl": self.ppl, "nll": self.nll_sum / self.tokens, "tokens": self.tokens}


def window_plan(n_tokens: int, context_len: int, stride: int) -> list[tuple[int, int]]:
    """Sliding windows over a stream of ``n_tokens`` -> [(begin, first_scored_position), ...].

    Window k covers positions [begin, begin + context_len) and scores targets at positions
    [first_scored, begin + context_len) (see the module docstring).
    """
    if not (isinstance(context_len, int) and context_len >= 2):
        raise ValueError(f"context_len must be an integer >= 2 (one context + one target), got {context_len!r}")
    if not (isinstance(stride, int) and 1 <= stride <= context_len):
        raise ValueError(
            f"stride must be an integer in [1, context_len={context_len}], got {stride!r}; "
            "stride > context_len would leave tokens unscored"
        )
    if n_tokens < context_len:
        raise ValueError(
            f"the corpus has {n_tokens} tokens, fewer than one window of context_len={context_len}; "
            "lower context_len or use a longer text"
        )
    plan, scored_until = [], 1
    for begin in range(0, n_tokens - context_len + 1, stride):
        end = begin + context_len
        plan.append((begin, max(scored_until, begin + 1)))
        scored_until = end
    return plan


@torch.no_grad()
def perplexity(model, input_ids: torch.Tensor, *, context_len: int = 2048, stride: int | None = None,
               batch_size: int = 1, corpus: str = "text", progress: bool = True) -> PerplexityResult:
    """Perplexity of ``model`` on a token stream ``input_ids`` [N] (see the module docstring).

    ``model(x)`` must return an object with ``.logits`` [B, L, V] for ``x`` [B, L] (a
    SpikingMambaForCausalLM, or any transformers causal LM). The model is put in eval mode.
    """
    stride = context_len if stride is None else stride
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    ids = torch.as_tensor(input_ids, dtype=torch.long).reshape(-1)
    plan = window_plan(ids.numel(), context_len, stride)
    model.eval()
    device = next(model.parameters()).device
    offsets = torch.arange(1, context_len)                      # target positions within a window
    nll_sum, n_scored = 0.0, 0
    batches = [plan[i:i + batch_size] for i in range(0, len(plan), batch_size)]
    for batch in tqdm(batches, desc=f"perplexity {corpus}", disable=not progress):
        x = torch.stack([ids[b:b + context_len] for b, _ in batch]).to(device)      # [B, L]
        logits = model(x).logits[:, :-1].float()                                    # [B, L-1, V]
        nll = F.cross_entropy(logits.transpose(1, 2), x[:, 1:], reduction="none")   # [B, L-1]
        begins = torch.tensor([b for b, _ in batch]).unsqueeze(1)
        firsts = torch.tensor([f for _, f in batch]).unsqueeze(1)
        scored = (begins + offsets >= firsts).to(device)                            # [B, L-1]
        nll_sum += nll[scored].double().sum().item()
        n_scored += int(scored.sum())
    return PerplexityResult(
        corpus=corpus, ppl=math.exp(nll_sum / n_scored), nll_sum=nll_sum, tokens=n_scored,
        windows=len(plan), context_len=context_len, stride=stride, stream_tokens=ids.numel(),
    )
