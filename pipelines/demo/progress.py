"""Stage headers with elapsed time and an ETA for the whole demo.

Each stage has a planned amount of work (token passes, from the recipe); the ETA is the remaining
work divided by the speed measured so far (after the first timed stage; before it, a prior guess);
inside a long stage, ``status(stage, fraction_done)`` gives the same with the stage's progress.
Skipped stages (a cached teacher) are removed from the plan. Wall times per stage are kept for the
report.

    clock = StageClock({"data": 1e5, "teacher": 5e6, ...})
    with clock.stage("teacher", "pretrain the teacher"):
        ...
    clock.seconds   # wall seconds {"data": 3.1, "teacher": 290.4, ...}; clock.cpu_seconds alike
"""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager

PRIOR_SPEED = 10000.0  # token passes per second before anything was timed (one thread of the dev machine)


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class StageClock:
    def __init__(self, work: dict[str, float], stream=None):
        if not work or any(w < 0 for w in work.values()):
            raise ValueError(f"stage work must be a non-empty mapping of non-negative numbers, got {work}")
        self.work = dict(work)
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}   # this process's CPU time (all threads) per stage
        self.start = self._stage_start = time.perf_counter()
        self.stream = stream or sys.stdout

    def skip(self, name: str) -> None:
        """Drop a stage from the plan (e.g. the cached teacher)."""
        self.work.pop(name)

    def speed(self) -> float:
        done = sum(self.work[n] for n in self.seconds if n in self.work)
        spent = sum(self.seconds.values())
        return done / spent if done > 0 and spent > 0 else PRIOR_SPEED

    def eta(self, current: str | None = None, fraction: float = 0.0) -> float:
        """Seconds left: the stages not yet timed. The running stage ``current``, ``fraction`` done,
        is extrapolated from its own pace once it has made progress (else from the speed so far)."""
        later = sum(w for n, w in self.work.items() if n not in self.seconds and n != current)
        eta = later / self.speed()
        if current is not None:
            spent = time.perf_counter() - self._stage_start
            whole = spent / fraction if fraction > 0 else self.work[current] / self.speed()
            eta += max(0.0, whole - spent)
        return eta

    def status(self, current: str, fraction: float) -> str:
        """``elapsed … · ETA …`` inside stage ``current`` (``fraction`` of its work done)."""
        return f"elapsed {format_seconds(self.total)} · ETA {format_seconds(self.eta(current, fraction))}"

    @contextmanager
    def stage(self, name: str, title: str):
        if name not in self.work:
            raise KeyError(f"stage {name!r} is not in the plan {list(self.work)}")
        index = list(self.work).index(name) + 1
        elapsed = time.perf_counter() - self.start
        print(f"\n[{index}/{len(self.work)}] {title} · elapsed {format_seconds(elapsed)} · "
              f"ETA {format_seconds(self.eta())}", file=self.stream, flush=True)
        t0, c0 = time.perf_counter(), time.process_time()
        self._stage_start = t0
        yield
        self.seconds[name] = time.perf_counter() - t0
        self.cpu_seconds[name] = time.process_time() - c0

    @property
    def total(self) -> float:
        return time.perf_counter() - self.start
