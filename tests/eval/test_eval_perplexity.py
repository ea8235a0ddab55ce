"""Perplexity = exp(mean NLL of the scored tokens), against NLL computed independently."""
import math
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings, strategies as st

from analysis.perplexity import perplexity, window_plan
from pipelines.eval import perplexity as ppl_mod
from pipelines.eval.perplexity import CORPORA, corpus_perplexity


class PrefixMeanLM(torch.nn.Module):
    """A causal toy LM whose logits at t depend on every token of the window up to t."""

    def __init__(self, vocab=11, dim=6):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.emb = torch.nn.Parameter(torch.randn(vocab, dim, generator=g))
        self.out = torch.nn.Parameter(torch.randn(dim, vocab, generator=g) * 3)

    def forward(self, x):
        e = self.emb[x].cumsum(1) / torch.arange(1, x.shape[1] + 1).view(1, -1, 1)
        return SimpleNamespace(logits=e @ self.out)


def oracle_nll(model, ids, L, S):
    """Σ −log p and count: token t is scored iff some full window (begin k·S) holds t and its
    predecessor, once, in the earliest such window, from that window alone (float64)."""
    n_windows = (len(ids) - L) // S + 1
    logp = {}                                   # window k -> its log-probabilities [L, V]
    total, count = 0.0, 0
    for t in range(len(ids)):
        k = next((k for k in range(n_windows) if k * S < t < k * S + L), None)
        if k is None:
            continue
        if k not in logp:
            logp[k] = torch.log_softmax(model(ids[k * S: k * S + L][None]).logits[0].double(), -1)
        total -= logp[k][t - k * S - 1, ids[t]].item()
        count += 1
    return total, count


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 50), L=st.integers(2, 12), s_frac=st.floats(0.0, 1.0), batch=st.integers(1, 3),
       seed=st.integers(0, 2**16))
def test_sliding_window_ppl_equals_independent_nll(n, L, s_frac, batch, seed):
    S = max(1, round(s_frac * L))
    model = PrefixMeanLM()
    ids = torch.randint(0, 11, (n,), generator=torch.Generator().manual_seed(seed))
    if n < L:
        with pytest.raises(ValueError, match="fewer than one window"):
            perplexity(model, ids, context_len=L, stride=S, progress=False)
        return
    res = perplexity(model, ids, context_len=L, stride=S, batch_size=batch, progress=False)
    total, count = oracle_nll(model, ids, L, S)
    assert res.tokens == count
    assert res.nll_sum == pytest.approx(total, rel=1e-5)
    assert res.ppl == pytest.approx(math.exp(total / count), rel=1e-5)


def test_window_plan_rejects_bad_settings():
    with pytest.raises(ValueError, match="stride must be an integer in \\[1, context_len=4\\]"):
        window_plan(10, 4, 5)
    with pytest.raises(ValueError, match="context_len must be an integer >= 2"):
        window_plan(10, 1, 1)
    assert window_plan(10, 4, 4) == [(0, 1), (4, 5)]          # GPTQ: L-1 targets per window, tail dropped
    assert window_plan(10, 4, 2) == [(0, 1), (2, 4), (4, 6), (6, 8)]


def test_local_file_matches_transformers_loss(teacher_hf_dir, text_file, byte_tokenizer):
    """GPTQ protocol (stride = L) on a real tiny Mamba2: exp(mean of transformers' own per-window CE)."""
    from transformers import Mamba2ForCausalLM

    model = Mamba2ForCausalLM.from_pretrained(teacher_hf_dir).eval()
    L = 32
    res = corpus_perplexity(model, byte_tokenizer, str(text_file), context_len=L, batch_size=2, progress=False)
    ids = torch.tensor(byte_tokenizer(text_file.read_text())["input_ids"])
    with torch.no_grad():
        losses = [model(w[None], labels=w[None]).loss.item() for w in ids.split(L) if len(w) == L]
    assert res.corpus == "local_corpus" and res.windows == len(losses) and res.tokens == len(losses) * (L - 1)
    assert res.ppl == pytest.approx(math.exp(sum(losses) / len(losses)), rel=1e-5)
    assert res.source == {"file": str(text_file.resolve())}


def test_hub_corpora_document_handling(monkeypatch, byte_tokenizer):
    """The documented hub datasets/splits/joiners are what gets requested and how rows are joined."""
    import datasets

    calls = []

    def fake_load_dataset(path, name=None, split=None, data_files=None, revision=None):
        calls.append((path, name, split, data_files, revision))
        column = "sentence" if "ptb" in path else "text"
        return datasets.Dataset.from_dict({column: [f"doc{i}" for i in range(1200)]})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    label, text, hub = ppl_mod.corpus_text("wikitext2")
    assert calls[-1] == ("Salesforce/wikitext", "wikitext-2-raw-v1", "test", None, None)
    assert text == "\n\n".join(f"doc{i}" for i in range(1200))
    label, text, hub = ppl_mod.corpus_text("wikitext103")  # Table 3: WikiText-103's test split, same handling
    assert calls[-1] == ("Salesforce/wikitext", "wikitext-103-raw-v1", "test", None, None)
    assert label == "wikitext103" and text == "\n\n".join(f"doc{i}" for i in range(1200))
    label, text, hub = ppl_mod.corpus_text("ptb")
    assert calls[-1][:3] == ("ptb-text-only/ptb_text_only", None, "test")
    assert text == " ".join(f"doc{i}" for i in range(1200))
    label, text, hub = ppl_mod.corpus_text("c4")
    assert calls[-1] == ("allenai/c4", None, "validation",
                         {"validation": "en/c4-validation.00000-of-00008.json.gz"}, None)
    assert text == " ".join(f"doc{i}" for i in range(1100)) and hub.max_windows == 256
    assert set(CORPORA) == {"wikitext2", "wikitext103", "ptb", "c4"}


def test_c4_stream_is_cut_to_256_windows(monkeypatch, byte_tokenizer):
    monkeypatch.setattr(ppl_mod, "corpus_text", lambda spec: ("c4", "abcdefgh" * 200, CORPORA["c4"]))
    res = corpus_perplexity(PrefixMeanLM(vocab=272), byte_tokenizer, "c4", context_len=4, batch_size=64,
                            progress=False)
    assert res.stream_tokens == 256 * 4 and res.windows == 256


def test_unknown_corpus_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown perplexity corpus 'wiki2'.*wikitext2"):
        ppl_mod.corpus_text("wiki2")


def test_spiking_student_overlapping_windows(student_dir, text_file, byte_tokenizer):
    """A TI-LIF student, stride < context: each token scored once, from its own window (float64 oracle)."""
    from models import SpikingMambaForCausalLM

    model = SpikingMambaForCausalLM.from_pretrained(student_dir)
    assert model.config.neuron_in == "tilif"
    res = corpus_perplexity(model, byte_tokenizer, str(text_file), context_len=32, stride=12, batch_size=3,
                            progress=False)
    ids = torch.tensor(byte_tokenizer(text_file.read_text())["input_ids"])
    with torch.no_grad():
        total, count = oracle_nll(model, ids, 32, 12)
    assert res.tokens == count and res.ppl == pytest.approx(math.exp(total / count), rel=1e-5)


def test_offline_hub_corpus_error_names_the_fix(monkeypatch):
    import datasets

    def offline(*args, **kwargs):   # what datasets raises with HF_DATASETS_OFFLINE=1 (and no cache)
        raise ConnectionError("Couldn't reach 'Salesforce/wikitext' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(ConnectionError, match="hub dataset Salesforce/wikitext; offline, save its text"):
        ppl_mod.corpus_text("wikitext2")


def test_eval_command_defaults_are_the_documented_protocol():
    """Non-overlapping 2048-token windows (stride = context) unless asked otherwise (pipelines/eval/README.md)."""
    from pipelines.eval.cli import build_parser

    args = build_parser().parse_args(["--teacher", "t", "--student", "s"])
    assert (args.context_len, args.stride, args.num_fewshot, args.aligned) == (2048, None, None, [])
    assert window_plan(4096, 2048, 2048) == [(0, 1), (2048, 2049)]
