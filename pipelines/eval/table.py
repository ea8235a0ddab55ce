"""The Table-2-style comparison: one row per model, one column per task, Avg., Diff., perplexities.

Accuracies are shown in percent (two decimals, as in the paper), each with lm-eval's standard error
(``acc_stderr`` & co.: ``64.34 ± 0.48``; none where lm-eval gives none). ``Avg.`` is the unweighted mean of
a row's task columns, its standard error ``sqrt(Σ se²) / n`` (the tasks' samples are independent);
``Diff.`` is ``Avg.(row) − Avg.(teacher)`` in percentage points, computed from unrounded averages ("-" on
the teacher row). Perplexity columns (lower is better) follow, and are not part of the average.

A row with a ``base`` is the RL-aligned version of that row's model (Table 2's "+ DPO" / "+ KTO"
rows). Its ``RL gain`` is ``Avg.(row) − Avg.(base)`` in points: the paper's "SpikingMamba improves
2.29 % / 2.55 % after DPO / KTO, Mamba2 only 0.57 % / 0.44 %" (§5.1). The markdown lists the gains of
spiking and dense bases side by side below the table; the JSON has ``base`` / ``rl_gain`` per row and
a ``gains`` list.

A row whose model ran spike-driven (micro-step spikes, accumulate-only projections: ``--spike_driven``)
is marked ``(spike-driven)`` after its label; the JSON has ``spike_driven`` per row.
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
    base: str | None = None  # label of the row this one is the RL-aligned version of
    stderr: dict[str, float | None] = field(default_factory=dict)  # by column key, fractions

    @property
    def spike_driven(self) -> bool:
        """Whether the model ran spike-driven (``info``'s spike_driven, as evaluate_model sets)."""
        return bool(self.info.get("spike_driven", False))

    @property
    def is_spiking(self) -> bool:
        """Whether the model has spiking neurons (``info``'s neuron_in / neuron_out, as evaluate_model sets)."""
        return any(self.info.get(key, "none") != "none" for key in ("neuron_in", "neuron_out"))

    def to_dict(self) -> dict:
        """Scores and standard errors in percent, perplexities, details (also for an unfinished row)."""
        return {"label": self.label, "spike_driven": self.spike_driven,
                "zero_shot_percent": {k: 100.0 * v for k, v in self.zero_shot.items()},
                "zero_shot_stderr_percent": {k: _percent(self.stderr.get(k)) for k in self.zero_shot},
                "perplexity": dict(self.perplexity), "info": self.info}


def _percent(fraction: float | None) -> float | None:
    return None if fraction is None else 100.0 * fraction


def _with_stderr(value: float, stderr: float | None) -> str:
    return f"{value:.2f}" if stderr is None else f"{value:.2f} ± {stderr:.2f}"


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
            if row.base is not None and (row.base not in labels or row.base == row.label):
                raise ValueError(f"aligned row {row.label!r} names base {row.base!r}, which is not another "
                                 f"row of {labels}; give the label of the model it was aligned from")

    def row(self, label: str) -> ModelRow:
        return next(r for r in self.rows if r.label == label)

    def average(self, label: str) -> float | None:
        """Mean task accuracy of a row in percent (None without task columns)."""
        if not self.columns:
            return None
        row = self.row(label)
        return sum(100.0 * row.zero_shot[c.key] for c in self.columns) / len(self.columns)

    def average_stderr(self, label: str) -> float | None:
        """Standard error of ``average`` in percent, ``sqrt(Σ se²) / n`` (None if a column has none)."""
        errs = [self.row(label).stderr.get(c.key) for c in self.columns]
        if not errs or None in errs:
            return None
        return 100.0 * sum(e * e for e in errs) ** 0.5 / len(errs)

    def diff(self, label: str) -> float | None:
        """Avg.(label) − Avg.(teacher) in percentage points (None for the teacher / no tasks)."""
        if not self.columns or label == self.teacher:
            return None
        return self.average(label) - self.average(self.teacher)

    def rl_gain(self, label: str) -> float | None:
        """Avg.(label) − Avg.(its base) in percentage points (None for a row without base / no tasks)."""
        base = self.row(label).base
        if not self.columns or base is None:
            return None
        return self.average(label) - self.average(base)

    def gains(self) -> list[dict]:
        """One entry per aligned row: label, base, whether the base is spiking (SNN) or dense, Avg.s, gain."""
        return [{"label": r.label, "base": r.base, "snn": self.row(r.base).is_spiking,
                 "base_avg": self.average(r.base), "avg": self.average(r.label), "rl_gain": self.rl_gain(r.label)}
                for r in self.rows if r.base is not None]

    def to_dict(self) -> dict:
        return {
            "teacher": self.teacher,
            "columns": [{"key": c.key, "task": c.task, "metric": c.metric, "header": c.header}
                        for c in self.columns],
            "corpora": list(self.corpora),
            "rows": [
                r.to_dict() | {
                    "avg": self.average(r.label),
                    "avg_stderr": self.average_stderr(r.label),
                    "diff": self.diff(r.label),
                    "base": r.base,
                    "rl_gain": self.rl_gain(r.label),
                }
                for r in self.rows
            ],
            "gains": self.gains(),
        }

    def to_markdown(self) -> str:
        with_gain = bool(self.columns) and any(r.base is not None for r in self.rows)
        header = ["Model", *(c.header for c in self.columns)]
        if self.columns:
            header += ["Avg.", "Diff."]
        if with_gain:
            header += ["RL gain"]
        header += [f"{c} PPL (↓)" for c in self.corpora]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for r in self.rows:
            marks = [m for m, on in (("teacher", r.label == self.teacher), ("spike-driven", r.spike_driven)) if on]
            cells = [r.label + "".join(f" ({m})" for m in marks)]
            cells += [_with_stderr(100.0 * r.zero_shot[c.key], _percent(r.stderr.get(c.key))) for c in self.columns]
            if self.columns:
                diff = self.diff(r.label)
                cells += [_with_stderr(self.average(r.label), self.average_stderr(r.label)),
                          "-" if diff is None else f"{diff:+.2f}"]
            if with_gain:
                gain = self.rl_gain(r.label)
                cells += ["-" if gain is None else f"{gain:+.2f}"]
            cells += [f"{r.perplexity[c]:.2f}" for c in self.corpora]
            lines.append("| " + " | ".join(cells) + " |")
        if with_gain:
            lines += ["", self.gains_line()]
        return "\n".join(lines) + "\n"

    def gains_line(self) -> str:
        """``RL gains (Avg., points): SNN A +2.29 (over B), ... vs dense C +0.57 (over D), ...``."""
        def listed(entries):
            return ", ".join(f"{g['label']} {g['rl_gain']:+.2f} (over {g['base']})" for g in entries) or "none"

        gains = self.gains()
        snn = [g for g in gains if g["snn"]]
        dense = [g for g in gains if not g["snn"]]
        return f"RL gains (Avg., points): SNN {listed(snn)} vs dense {listed(dense)}"

    def save(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write ``comparison.md`` and ``comparison.json`` into ``out_dir`` atomically."""
        out = Path(out_dir)
        md, js = out / "comparison.md", out / "comparison.json"
        atomic_write_text(md, self.to_markdown())
        atomic_write_text(js, json.dumps(self.to_dict(), indent=2) + "\n")
        return md, js

