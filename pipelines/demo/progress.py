"""Stage headers with elapsed time and an ETA for the whole demo.

Each stage has a planned amount of work (token passes, from the recipe). The ETA is the work left
divided by the speed of the work done so far: the timed stages and the finished fraction of the
running stage (``status(stage, fraction)``), over the time it took to do it, measured up to the
moment that fraction was reached (before anything was done: a prior guess). Between two reports of
progress the estimate is not recomputed, it only counts down: waiting for a long job never raises
the ETA, only work done (or found slower than planned) moves it. Skipped stages (a shipped or cached
teacher) are removed from the plan. Wall times per stage are kept for the report.

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
        self._current: str | None = None          # the running stage
        self._fraction = 0.0                      # its share of work done, reached at time _reached
        self._reached = self.start
        self.stream = stream or sys.stdout

    def skip(self, name: str) -> None:
        """Drop a stage from the plan (e.g. the shipped teacher); a stage not in it stays out."""
        self.work.pop(name, None)

    def plan(self, name: str, work: float, after: str) -> None:
        """Put a stage into the plan right after stage ``after`` (e.g. a teacher to pretrain after all);
        a stage already planned keeps its place and work."""
        if name not in self.work:
            stages = list(self.work.items())
            at = [n for n, _ in stages].index(after) + 1
            self.work = dict(stages[:at] + [(name, float(work))] + stages[at:])

    def progress(self, stage: str, fraction: float) -> None:
        """``fraction`` of running ``stage``'s work is done (now); a fraction not above the last one is no news."""
        if stage != self._current:
            raise KeyError(f"stage {stage!r} is not running (running: {self._current!r})")
        if fraction > self._fraction:
            self._fraction, self._reached = min(fraction, 1.0), time.perf_counter()

    def speed(self) -> float:
        """Token passes per second of the work done so far (``PRIOR_SPEED`` before any)."""
        done = sum(self.work[n] for n in self.seconds if n in self.work)
        spent = sum(self.seconds.values())
        if self._current is not None and self._fraction > 0:
            done += self._fraction * self.work[self._current]
            spent += self._reached - self._stage_start
        return done / spent if done > 0 and spent > 0 else PRIOR_SPEED

    def eta(self, current: str | None = None, fraction: float | None = None) -> float:
        """Seconds left: the stages not yet timed at ``speed()``; of the running stage ``current`` (after
        recording ``fraction`` done, if given), its work left, counted down since that work was reached."""
        if current is not None and fraction is not None:
            self.progress(current, fraction)
        speed = self.speed()
        eta = sum(w for n, w in self.work.items() if n not in self.seconds and n != current) / speed
        if current is not None:
            since = time.perf_counter() - self._reached
            eta += max(0.0, (1 - self._fraction) * self.work[current] / speed - since)
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
        self._stage_start = self._reached = t0
        self._current, self._fraction = name, 0.0
        try:
            yield
        finally:
            self._current, self._fraction = None, 0.0
        self.seconds[name] = time.perf_counter() - t0
        self.cpu_seconds[name] = time.process_time() - c0

    @property
    def total(self) -> float:
        return time.perf_counter() - self.start
