"""One benchmark figure (`Result`), the markdown table, and the results.json writer."""

from __future__ import annotations

import json
import operator
import os
import statistics
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

_COMPARE = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


@dataclass
class Result:
    """One row of results.json.

    value       the figure (a median over `repetitions`); None for a figure skipped (`skipped`)
    target      "<= 1.25", ">= 2.0" or "" (measured, no target)
    shape       what was run, in words
    spread      [min, max] of the per-repetition values
    detail      raw numbers behind the figure (seconds, bytes, rates ...)
    """

    name: str
    value: float | None
    target: str
    shape: str
    repetitions: int
    spread: list[float]
    detail: dict = field(default_factory=dict)

    @classmethod
    def from_samples(cls, name: str, samples: list[float], target: str, shape: str, **detail) -> Result:
        """The median of per-repetition `samples`, with their [min, max] as the spread."""
        if not samples:
            raise ValueError(f"{name}: no samples (repetitions must be >= 1)")
        return cls(name, statistics.median(samples), target, shape, len(samples),
                   [min(samples), max(samples)], detail)

    @classmethod
    def skipped(cls, name: str, target: str, reason: str) -> Result:
        """A figure that could not be measured in this run (e.g. no llama.cpp build): no value, the reason
        as its shape and ``detail["skipped"]``; never a made-up number."""
        return cls(name, None, target, reason, 0, [], {"skipped": reason})

    @property
    def met(self) -> bool | None:
        """True/False against the target, None when there is no target or no value."""
        if not self.target or self.value is None:
            return None
        op, bound = self.target.split()
        if op not in _COMPARE:
            raise ValueError(f"target {self.target!r} must start with '<=', '>=', '<' or '>'")
        return _COMPARE[op](self.value, float(bound))


def markdown_table(results: list[Result]) -> str:
    rows = [
        "| figure | value | spread (min–max) | target | met | reps | shape |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        met = {True: "yes", False: "**no**", None: "–"}[r.met]
        if r.value is None:
            rows.append(f"| `{r.name}` | – | – | {r.target or '–'} | – | 0 | {r.shape} |")
            continue
        rows.append(
            f"| `{r.name}` | {r.value:.3f} | {r.spread[0]:.3f}–{r.spread[1]:.3f} | "
            f"{r.target or '–'} | {met} | {r.repetitions} | {r.shape} |"
        )
    return "\n".join(rows)


def write_json(results: list[Result], path: Path) -> None:
    """Write atomically (tmp file in the same directory + os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump([asdict(r) for r in results], f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
