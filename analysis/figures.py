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


def _make_parent(path: Path) -> None:
    """Create ``path``'s directory; one that exists as a file is a ValueError saying so."""
    for parent in (path.parent, *path.parent.parents):
        if parent.exists() and not parent.is_dir():
            raise ValueError(f"{parent} is a file, not a directory; pass an output directory (--out) that is not a file")
    path.parent.mkdir(parents=True, exist_ok=True)


def write_json(path: str | os.PathLike, numbers: dict) -> Path:
    """Write ``numbers`` as indented JSON, atomically (tmp file + os.replace)."""
    path = Path(path)
    _make_parent(path)
    _atomic_write(path, lambda p: p.write_text(json.dumps(numbers, indent=2, allow_nan=True) + "\n"))
    return path


def sides_caption() -> str:
    """What the symbols u and y stand for (§4.1: the inputs of in_proj and out_proj, `models.shape.SIDES`)."""
    from models.shape import SIDES

    return "; ".join(f"{s.symbol}: the input of {s.module} ({s.equation})" for s in SIDES.values())


def save_figure(fig, png_path: str | os.PathLike, numbers: dict, dpi: int = 120,
                source: str | None = None) -> tuple[Path, Path]:
    """Save ``fig`` to ``png_path`` and ``numbers`` to the same path with suffix ``.json``; close ``fig``.
    ``source`` (the checkpoint or inputs the figure came from) is printed under the figure and stored as the
    JSON's ``"source"``."""
    png = Path(png_path)
    if png.suffix.lower() != ".png":
        raise ValueError(f"figure path {str(png)!r} must end in .png")
    _make_parent(png)
    if source is not None:
        fig.text(0.005, 0.0, f"source: {source}", fontsize=7, color="0.3", ha="left", va="top")
        numbers = {"source": source, **numbers}
    try:
        _atomic_write(png, lambda p: fig.savefig(p, dpi=dpi, bbox_inches="tight", format="png"))
    finally:
        plt.close(fig)
    return png, write_json(png.with_suffix(".json"), numbers)
