"""JSON / JSONL artefacts of the demo, written atomically (``pipelines.atomic.atomic_write_text``)."""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from pipelines.atomic import atomic_write_text


def write_json(path: str | Path, obj) -> Path:
    atomic_write_text(path, json.dumps(obj, indent=1) + "\n")
    return Path(path)


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> Path:
    """One JSON object per line."""
    atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return Path(path)
