"""Files and directories that appear complete or not at all (shared by every pipeline).

``atomic_write_text`` writes a temporary file beside the target and ``os.replace``-s it into place;
``replace_directory`` swaps a finished staging directory in for an old one. A reader, or a run killed
at any instant, therefore sees the old content or the new, never a partial one.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same directory and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def replace_directory(tmp: Path, final: Path) -> None:
    """Move the finished directory ``tmp`` to ``final``, replacing any previous ``final``.

    ``os.replace`` cannot overwrite a non-empty directory, so an existing ``final`` is first renamed
    aside and deleted afterwards; at every instant a complete ``final`` (old or new) or its aside copy
    exists.
    """
    aside = final.with_name(f".{final.name}.old")
    if aside.exists():
        shutil.rmtree(aside)
    if final.exists():
        os.replace(final, aside)
    os.replace(tmp, final)
    if aside.exists():
        shutil.rmtree(aside)
