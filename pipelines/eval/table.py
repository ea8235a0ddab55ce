"""The Table-2-style comparison: one row per model, one column per task, Avg., Diff., perplexities.

Accuracies are shown in percent (two decimals, as in the paper). ``Avg.`` is the unweighted mean of
a row's task columns; ``Diff.`` is ``Avg.(row) − Avg.(teacher)`` in percentage points, computed from
unrounded averages ("-" on the teacher row). Perplexity columns (lower is better) follow, and are
not part of the average.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.atomic import atomic_write_text

from .zero_shot import TaskMetric


@dataclass
class ModelRow:
    """One evaluated model: zero-shot fractions by column key, perplexities by corpus label."""

    label: str
    zero_shot: dict[str, float] = field(default_factory=dict)
    perplexity: dict[str, float] = field(default_factory=dict)
    info: dict = field(default_factory=dict)


@dataclass
class ComparisonTable:
    columns: list[TaskMetric]
    corpora: list[str]
    rows: list[ModelRow]
    teacher: str

    def __post_init__(self):
        labels = [r.label for r in self.rows]
        if len(set(labels)) != len(labels):
            raise ValueError(f"model labels must be unique, got {labels}; give each model its own label")
        if self.teacher not in labels:
            raise ValueError(f"teacher {self.teacher!r} is not one of the rows {labels}")
        for row in self.rows:
            missing = [c.key for c in self.columns if c.key not in row.zero_shot]
            missing += [c for c in self.corpora if c not in row.perplexity]
            if missing:
                raise ValueError(f"row {row.label!r} has no score for {missing}")

    def row(self, label: str) -> ModelRow:
        return next(r for r in self.rows if r.label == label)

    def average(self, label: str) -> float | None:
        """Mean task accuracy of a row in percent (None without task columns)."""
        if not self.columns:
            return None
        row = self.row(label)
        return sum(100.0 * row.zero_shot[c.key] for c in self.columns) / len(self.columns)

    def diff(self, label: str) -> float | None:
        """Avg.(label) − Avg.(teacher) in percentage points (None for the teacher / no tasks)."""
        if not self.columns or label == self.teacher:
            return None
        return self.average(label) - self.average(self.teacher)

    def to_dict(self) -> dict:
        return {
            "teacher": self.teacher,
            "columns": [{"key": c.key, "task": c.task, "metric": c.metric, "header": c.header}
                        for c in self.columns],
            "corpora": list(self.corpora),
            "rows": [
                {
                    "label": r.label,
                    "zero_shot_percent": {c.key: 100.0 * r.zero_shot[c.key] for c in self.columns},
                    "avg": self.average(r.label),
                    "diff": self.diff(r.label),
                    "perplexity": {c: r.perplexity[c] for c in self.corpora},
                    "info": r.info,
                }
                for r in self.rows
            ],
        }

    def to_markdown(self) -> str:
        header = ["Model", *(c.header for c in self.columns)]
        if self.columns:
            header += ["Avg.", "Diff."]
        header += [f"{c} PPL (↓)" for c in self.corpora]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for r in self.rows:
            cells = [f"{r.label} (teacher)" if r.label == self.teacher else r.label]
            cells += [f"{100.0 * r.zero_shot[c.key]:.2f}" for c in self.columns]
            if self.columns:
                diff = self.diff(r.label)
                cells += [f"{self.average(r.label):.2f}", "-" if diff is None else f"{diff:+.2f}"]
            cells += [f"{r.perplexity[c]:.2f}" for c in self.corpora]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def save(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write ``comparison.md`` and ``comparison.json`` into ``out_dir`` atomically."""
        out = Path(out_dir)
        md, js = out / "comparison.md", out / "comparison.json"
        atomic_write_text(md, self.to_markdown())
        atomic_write_text(js, json.dumps(self.to_dict(), indent=2) + "\n")
        return md, js

