"""Token-level perplexity with a sliding window (Table 3, Table 4, Table 13).

Protocol (the paper names the corpora and "as done in Bi-Mamba", nothing else; this project's choice,
which is GPTQ's, whose scripts Bi-Mamba's and BiLLM's rows of Table 4 come from): each corpus's split
below becomes one token stream, scored in non-overlapping windows of ``context_len`` = 2048 tokens (the
training length, Appendix C) with ``stride`` = ``context_len``, each window from a fresh state, the
partial tail dropped; ``python -m pipelines eval --context_len / --stride`` change it and every result
records both. The corpora and their document handling follow the GPTQ / BiLLM evaluation scripts:

=========== =============================================== ========== =============================
name        hub dataset (config / files)                    split      documents -> one token stream
=========== =============================================== ========== =============================
wikitext2   ``Salesforce/wikitext`` ``wikitext-2-raw-v1``   test       all rows of ``text``, joined by "\\n\\n"
wikitext103 ``Salesforce/wikitext`` ``wikitext-103-raw-v1`` test       as wikitext2 (Table 3)
ptb         ``ptb-text-only/ptb_text_only``                 test       all ``sentence`` rows, joined by " "
            (parquet export, ``penn_treebank`` config)
c4          ``allenai/c4``, file                            validation first 1100 ``text`` rows, joined by " ";
            ``en/c4-validation.00000-of-00008.json.gz``                the stream cut to 256 windows
=========== =============================================== ========== =============================

WikiText-103's test split is WikiText-2's test text (Merity et al. 2016 share valid/test sets), so under
one protocol both give the same number; the paper's Mamba2-130M reads 19.56 on WikiText-103 (Table 3)
but 20.04 on WikiText-2 (Table 13), so Table 3 used some other, unstated protocol (e.g. overlapping windows,
``stride < context_len``, which lower perplexity): compare with Table 3 under that caveat.

A local ``.txt`` file is read whole (UTF-8) as one document. The joined text is tokenized in one
call with the tokenizer's defaults (as GPTQ does: the GPT-NeoX tokenizer of Mamba2 adds no BOS).

Windows, stride and the formula: ``analysis/perplexity.py``, whose ``perplexity`` this module feeds.

Not run here: the four hub downloads (no network in CI). Tested offline on local text.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["CORPORA", "HubCorpus", "check_corpus", "corpus_perplexity", "corpus_text"]


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
    "wikitext103": HubCorpus("Salesforce/wikitext", "test", "text", "\n\n", name="wikitext-103-raw-v1"),
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
    check_corpus(spec)
    return Path(spec).stem, Path(spec).read_text(encoding="utf-8"), None


def check_corpus(spec: str) -> None:
    """Raise ValueError unless ``spec`` names a hub corpus or an existing file."""
    if spec not in CORPORA and not Path(spec).is_file():
        raise ValueError(f"unknown perplexity corpus {spec!r}: give one of {sorted(CORPORA)} (hub) or the path "
                         "of an existing UTF-8 .txt file")


def corpus_perplexity(model, tokenizer, spec: str, *, context_len: int = 2048, stride: int | None = None,
                      batch_size: int = 1, progress: bool = True):
    """Load ``spec`` (CORPORA name or .txt path), tokenize it as one stream, and score it
    (-> ``analysis.perplexity.PerplexityResult``)."""
    import torch

    from analysis.perplexity import perplexity

    label, text, hub = corpus_text(spec)
    ids = torch.tensor(tokenizer(text)["input_ids"], dtype=torch.long)
    if hub is not None and hub.max_windows is not None:
        ids = ids[: hub.max_windows * context_len]
    result = perplexity(model, ids, context_len=context_len, stride=stride, batch_size=batch_size,
                        corpus=label, progress=progress)
    result.source = {"hub": asdict(hub)} if hub is not None else {"file": str(Path(spec).resolve())}
    return result
