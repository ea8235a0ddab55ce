"""The protocol of one check process: ``python -m benchmarks.gpu.<check> --result FILE --work DIR``.

``run_check(body)`` calls ``body(work_dir)`` (plus the check's own options), which returns a dict
of findings with "status" set to "passed", "failed" or "skipped" (and "reason" for the last), and
writes it as JSON to FILE; an exception becomes status "failed" with its traceback. The runner (benchmarks/gpu/runner.py) reads
the file; a process that dies or outlives its budget leaves none, and the runner says so.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch


def run_check(body: Callable[..., dict], choices: dict[str, tuple[str, ...]] | None = None) -> None:
    """``choices``: extra options ``--NAME`` (one of the given values), passed to ``body`` by name."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    for name, values in (choices or {}).items():
        parser.add_argument(f"--{name}", choices=values, required=True)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        result = body(args.work, **{name: getattr(args, name) for name in choices or {}})
    except Exception:  # noqa: BLE001  (the check's failure is its result)
        result = {"status": "failed", "error": traceback.format_exc()}
        print(result["error"], flush=True)
    result["check_seconds"] = round(time.perf_counter() - start, 2)
    args.result.write_text(json.dumps(result, indent=2, default=str))


def status(ok: bool) -> str:
    return "passed" if ok else "failed"


def relative_error(got: torch.Tensor, reference: torch.Tensor) -> float:
    """‖got − reference‖ / ‖reference‖ in float64 (0 when both are 0)."""
    got, reference = got.double(), reference.double()
    norm = reference.norm().item()
    diff = (got - reference).norm().item()
    return diff / norm if norm > 0 else diff
