"""Writing figures: every PNG gets the numbers it was drawn from as JSON beside it (``fig.png`` + ``fig.json``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend first)


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: str | os.PathLike, numbers: dict) -> Path:
    """Write ``numbers`` as indented JSON, atomically (tmp file + os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, lambda p: p.write_text(json.dumps(numbers, indent=2, allow_nan=True) + "\n"))
    return path


def save_figure(fig, png_path: str | os.PathLike, numbers: dict, dpi: int = 120) -> tuple[Path, Path]:
    """Save ``fig`` to ``png_path`` and ``numbers`` to the same path with suffix ``.json``; close ``fig``."""
    png = Path(png_path)
    if png.suffix.lower() != ".png":
        raise ValueError(f"figure path {str(png)!r} must end in .png")
    png.parent.mkdir(parents=True, exist_ok=True)
    try:
        _atomic_write(png, lambda p: fig.savefig(p, dpi=dpi, bbox_inches="tight", format="png"))
    finally:
        plt.close(fig)
    return png, write_json(png.with_suffix(".json"), numbers)
