"""Training metrics: one JSON object per logged step in ``metrics.jsonl``, mirrored to TensorBoard.

Shared by every training pipeline. Only the main process should write (pass ``enabled=False``
elsewhere). On resume, lines logged after the checkpoint being resumed (by the run that died) are
dropped first, so the file always describes exactly one trajectory.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from pipelines.atomic import atomic_write_text


def _jsonable(value):
    value = float(value) if hasattr(value, "item") else value
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf; keep them readable
    return value


class MetricsWriter:
    """``log(step, loss=..., ...)`` appends ``{"step": step, ...}`` to ``OUTPUT_DIR/metrics.jsonl``."""

    def __init__(self, output_dir: str | Path, enabled: bool = True, resume_step: int | None = None,
                 tensorboard: bool = True):
        self.enabled = enabled
        self.path = Path(output_dir) / "metrics.jsonl"
        self._tb = None
        if not enabled:
            return
        if resume_step is not None:
            self.truncate_after(resume_step)
        elif self.path.exists():
            self.path.unlink()
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional
                SummaryWriter = None
            if SummaryWriter is not None:
                self._tb = SummaryWriter(str(Path(output_dir) / "tensorboard"), purge_step=resume_step)

    def truncate_after(self, step: int) -> None:
        """Keep only the records with ``record["step"] <= step``."""
        if not self.path.exists():
            return
        kept = [line for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line)["step"] <= step]
        atomic_write_text(self.path, "".join(line + "\n" for line in kept))

    def log(self, step: int, **values) -> None:
        if not self.enabled:
            return
        record = {"step": step, **{k: _jsonable(v) for k, v in values.items()}}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._tb.add_scalar(key, value, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def interactive() -> bool:
    """Whether progress bars may redraw in place: stderr is a terminal. In a log file a bar's ``\\r`` redraws
    pile up, so the pipelines print one line per logged step instead."""
    return sys.stderr.isatty()


def quiet_progress_bars_in_logs() -> None:
    """Outside a terminal, turn the datasets and transformers progress bars off (each would write a ``\\r``
    redraw per update into the log)."""
    if interactive():
        return
    import datasets
    from transformers.utils import logging as hf_logging

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()


def read_metrics(output_dir: str | Path) -> list[dict]:
    """All records of ``OUTPUT_DIR/metrics.jsonl``, in order."""
    path = Path(output_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
