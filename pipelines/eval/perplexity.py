"""Token-level perplexity with a sliding window (Table 3, Table 4, Table 13).

The corpora and their document handling follow the GPTQ / BiLLM evaluation scripts that Bi-Mamba's
numbers (and hence Table 4's comparison rows) come from:

========== =========================================== ========== =============================
name       hub dataset (config / files)                split      documents -> one token stream
========== =========================================== ========== =============================
wikitext2  ``Salesforce/wikitext`` ``wikitext-2-raw-v1`` test       all rows of ``text``, joined by "\\n\\n"
ptb        ``ptb-text-only/ptb_text_only``             test       all ``sentence`` rows, joined by " "
           (parquet export, ``penn_treebank`` config)
c4         ``allenai/c4``, file                        validation first 1100 ``text`` rows, joined by " ";
           ``en/c4-validation.00000-of-00008.json.gz``            the stream cut to 256 windows
========== =========================================== ========== =============================

A local ``.txt`` file is read whole (UTF-8) as one document. The joined text is tokenized in one
call with the tokenizer's defaults (as GPTQ does: the GPT-NeoX tokenizer of Mamba2 adds no BOS).

Windows (context length ``L``, stride ``S``, 1 ≤ S ≤ L): full windows start at 0, S, 2S, … while
they fit in the stream; tokens after the last full window are not scored (GPTQ drops the partial
tail too). Each window is run from a fresh state. Window k scores the targets that no earlier window
scored, predicting token t from tokens [begin_k, t) of its own window; the first token of the stream
is never scored. With S = L (the default, = GPTQ) every window scores its last L − 1 tokens; with
S < L every token after the first is scored exactly once with at least L − S tokens of context.

    PPL = exp( Σ_scored −log p(x_t | window context) / #scored )

computed in float64 from per-token cross-entropies, which is exactly GPTQ's
``exp(Σ_windows mean_loss · L / (n_windows · L))`` when S = L.

Not run here: the three hub downloads (no network in CI). Tested offline on local text.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm


@dataclass(frozen=True)
class HubCorpus:
    """Where a standard perplexity corpus lives and how its rows become one text."""

    path: str
    split: str
    column: str
    joiner: str
    name: str | None = None
    data_files: dict | None = None
    revision: str | None = None
    max_docs: int | None = None       # keep only the first max_docs rows
    max_windows: int | None = None    # cut the token stream to max_windows · context_len tokens


CORPORA = {
    "wikitext2": HubCorpus("Salesforce/wikitext", "test", "text", "\n\n", name="wikitext-2-raw-v1"),
    "ptb": HubCorpus(
        "ptb-text-only/ptb_text_only", "test", "sentence", " ",
        # the canonical repo is a loading script (unsupported since datasets 4); the hub's parquet
        # export of its penn_treebank config holds the same rows
        data_files={"test": "penn_treebank/test/*.parquet"}, revision="refs/convert/parquet",
    ),
    "c4": HubCorpus(
        "allenai/c4", "validation", "text", " ",
        data_files={"validation": "en/c4-validation.00000-of-00008.json.gz"},
        max_docs=1100, max_windows=256,
    ),
}


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


def corpus_text(spec: str) -> tuple[str, str, HubCorpus | None]:
    """``spec`` (a name in CORPORA, or a path to a local .txt file) -> (label, text, hub spec or None)."""
    if spec in CORPORA:
        corpus = CORPORA[spec]
        import datasets

        try:
            ds = datasets.load_dataset(corpus.path, corpus.name, split=corpus.split,
                                       data_files=corpus.data_files, revision=corpus.revision)
        except ConnectionError as err:
            raise ConnectionError(f"{err}. The {spec!r} corpus is the hub dataset {corpus.path}; offline, "
                                  "save its text to a local .txt file and pass that path instead") from err
        if corpus.column not in ds.column_names:
            raise ValueError(f"{corpus.path} has no column {corpus.column!r} (columns: {ds.column_names})")
        rows = ds[corpus.column] if corpus.max_docs is None else ds[: corpus.max_docs][corpus.column]
        return spec, corpus.joiner.join(rows), corpus
    path = Path(spec)
    if path.is_file():
        return path.stem, path.read_text(encoding="utf-8"), None
    raise ValueError(
        f"unknown perplexity corpus {spec!r}: give one of {sorted(CORPORA)} (hub) or the path of an "
        "existing UTF-8 .txt file"
    )


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


def corpus_perplexity(model, tokenizer, spec: str, *, context_len: int = 2048, stride: int | None = None,
                      batch_size: int = 1, progress: bool = True) -> PerplexityResult:
    """Load ``spec`` (CORPORA name or .txt path), tokenize it as one stream, and score it."""
    label, text, hub = corpus_text(spec)
    ids = torch.tensor(tokenizer(text)["input_ids"], dtype=torch.long)
    if hub is not None and hub.max_windows is not None:
        ids = ids[: hub.max_windows * context_len]
    result = perplexity(model, ids, context_len=context_len, stride=stride, batch_size=batch_size,
                        corpus=label, progress=progress)
    result.source = {"hub": asdict(hub)} if hub is not None else {"file": str(Path(spec).resolve())}
    return result
