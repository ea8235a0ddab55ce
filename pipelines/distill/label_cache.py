"""The resumable cache of teacher responses beside a run: ``OUTPUT_DIR/pseudo_labels/``.

    meta.json          what the responses were generated with (teacher, tokenizer, chat template, data,
                       max_new_tokens, decoding, the prompts' count and fingerprint); a run with other
                       settings refuses the cache instead of mixing two sets of responses
    shard-R.jsonl      the responses process R generated, one JSON object per line:
                       {"index": prompt index, "response_ids": ŷ's token ids, "finished": ended with EOS}

Process R appends one batch of rows at a time with a single write, then flush + fsync, so a killed run
leaves complete rows and at most one torn last line. At the next start the main process cuts every
shard after its last complete line (``repair``) and every process skips the prompt indices already
present in any shard (``done``): the run continues where it stopped and writes nothing twice, also
with another number of processes. ``finished`` false: ŷ was cut at max_new_tokens. The prompts
themselves are not stored (``meta.json``'s fingerprint ties the cache to them); to read a response,
``tokenizer.decode(row["response_ids"])``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from pipelines.checkpointing import atomic_write_text

META = "meta.json"


class PseudoLabelCache:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def shard(self, rank: int) -> Path:
        return self.root / f"shard-{rank}.jsonl"

    def shards(self) -> list[Path]:
        return sorted(self.root.glob("shard-*.jsonl"))

    def check_meta(self, meta: dict) -> None:
        """Raise ValueError if the cache was generated with settings other than ``meta`` (read-only)."""
        path = self.root / META
        if not path.is_file():
            return
        saved = json.loads(path.read_text())
        differ = sorted(k for k in set(saved) | set(meta) if saved.get(k) != meta.get(k))
        if differ:
            raise ValueError(f"the pseudo-label cache {self.root} was generated with other settings ({', '.join(differ)} "
                             "differ); delete it to regenerate, or choose a new output_dir")

    def write_meta(self, meta: dict) -> None:
        atomic_write_text(self.root / META, json.dumps(meta, indent=1) + "\n")

    def repair(self) -> int:
        """Cut every shard after its last complete line (a run killed mid-write); return the bytes cut."""
        cut = 0
        for path in self.shards():
            data = path.read_bytes()
            keep = data.rfind(b"\n") + 1
            if keep < len(data):
                with open(path, "r+b") as f:
                    f.truncate(keep)
                    os.fsync(f.fileno())
                cut += len(data) - keep
        return cut

    def done(self) -> set[int]:
        """Prompt indices with a cached response (after ``repair``); a duplicate is a ValueError."""
        seen: set[int] = set()
        for path in self.shards():
            with open(path) as f:
                for line in f:
                    index = json.loads(line)["index"]
                    if index in seen:
                        raise ValueError(f"prompt {index} appears twice in {self.root}; the cache is corrupt, "
                                         "delete it to regenerate")
                    seen.add(index)
        return seen

    def append(self, rank: int, rows: list[dict]) -> None:
        """Append ``rows`` to shard ``rank`` in one write, durable before returning."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.shard(rank), "a") as f:
            f.write("".join(json.dumps(row) + "\n" for row in rows))
            f.flush()
            os.fsync(f.fileno())

    def load(self, cache_dir: str | None = None):
        """Every cached row as a ``datasets.Dataset``, in prompt-index order."""
        import datasets

        files = [str(p) for p in self.shards() if p.stat().st_size]
        rows = datasets.load_dataset("json", data_files=files, split="train", cache_dir=cache_dir)
        return rows.select(np.argsort(rows["index"], kind="stable"))
