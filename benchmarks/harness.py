"""Timing primitives: device sync, interleaved A/B ratios, and a memory-bandwidth probe.

Shared machines are noisy, so every figure is a *ratio of two sides timed back to back*: each
repetition times both sides adjacently (alternating which goes first, so a slow drift in machine
load cancels), the per-repetition ratio is recorded, and the figure is the median of those ratios
with their min and max as the spread (`benchmarks.results.Result.from_samples`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


def pick_device(name: str) -> torch.device:
    """`auto` -> CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name!r} asked for CUDA but torch sees no GPU; use --device cpu")
    return device


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_once(fn: Callable[[], object], device: torch.device) -> float:
    """Wall-clock seconds of one call, with the device synchronised on both sides."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


@dataclass
class Ratio:
    """Per-repetition seconds of two sides timed back to back; `values` are time(a) / time(b)."""

    times_a: list[float]
    times_b: list[float]

    @property
    def values(self) -> list[float]:
        return [a / b for a, b in zip(self.times_a, self.times_b, strict=True)]


def interleaved_ratio(
    fn_a: Callable[[], object],
    fn_b: Callable[[], object],
    repetitions: int,
    device: torch.device,
    warmup: int = 1,
) -> Ratio:
    """Time `fn_a` and `fn_b` back to back `repetitions` times (order alternating: AB, BA, AB ...).

    `warmup` untimed calls of each side come first (allocator, lazy init, caches).
    """
    if repetitions < 1:
        raise ValueError(f"repetitions must be >= 1, got {repetitions}")
    for _ in range(warmup):
        fn_a()
        fn_b()
    times_a, times_b = [], []
    for rep in range(repetitions):
        if rep % 2 == 0:
            times_a.append(time_once(fn_a, device))
            times_b.append(time_once(fn_b, device))
        else:
            times_b.append(time_once(fn_b, device))
            times_a.append(time_once(fn_a, device))
    return Ratio(times_a, times_b)


class CopyBandwidth:
    """Memory bandwidth from a large device-to-device copy, STREAM-style (bytes read + written).

    The buffers (default 256 MiB each, far beyond any cache) are allocated once; `measure()` returns
    bytes/s of the fastest of `copies` copies (the fastest copy is the one least disturbed by
    other processes, i.e. the closest to what the memory system can do right now).
    """

    def __init__(self, device: torch.device, nbytes: int = 256 * 2**20):
        self.device = device
        self.src = torch.ones(nbytes // 4, dtype=torch.float32, device=device)
        self.dst = torch.empty_like(self.src)
        self.dst.copy_(self.src)  # touch every page before timing

    def measure(self, copies: int = 3) -> float:
        moved = 2 * self.src.numel() * self.src.element_size()
        best = min(time_once(lambda: self.dst.copy_(self.src), self.device) for _ in range(copies))
        return moved / best
