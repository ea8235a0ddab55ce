"""Timing primitives: device sync, interleaved timing of several sides, a memory-bandwidth probe.

Shared machines are noisy, so every figure is a *ratio of sides timed back to back*: each
repetition times all sides of a comparison adjacently (reversing the order every repetition, so a
slow drift in machine load cancels), the per-repetition ratio is recorded, and the figure is the
median of those ratios with their min and max as the spread (`benchmarks.results.Result.from_samples`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

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


def interleaved_times(
    sides: dict[str, Callable[[], object]],
    repetitions: int,
    device: torch.device,
    warmup: int = 1,
) -> dict[str, list[float]]:
    """Seconds of each side per repetition, the sides timed back to back within a repetition.

    The order reverses every repetition (A B C, C B A, A B C ...; for two sides AB, BA, AB ...) so
    that neither a position in the sequence nor a drift in machine load favours a side. `warmup`
    untimed calls of every side come first (allocator, lazy init, caches).
    """
    if repetitions < 1:
        raise ValueError(f"repetitions must be >= 1, got {repetitions}")
    for _ in range(warmup):
        for fn in sides.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in sides}
    order = list(sides)
    for rep in range(repetitions):
        for name in order if rep % 2 == 0 else order[::-1]:
            times[name].append(time_once(sides[name], device))
    return times


def ratios(times_a: list[float], times_b: list[float]) -> list[float]:
    """Per-repetition time(a) / time(b)."""
    return [a / b for a, b in zip(times_a, times_b, strict=True)]


class CopyBandwidth:
    """A memory-bandwidth probe: `copies` copies of a large buffer, STREAM-style bytes (read + written).

    The buffers (default 256 MiB each, far beyond any cache) are allocated and touched once; time a
    call (as one side of `interleaved_times`) and divide `bytes_moved` by it.
    """

    def __init__(self, device: torch.device, nbytes: int = 256 * 2**20, copies: int = 3):
        self.src = torch.ones(nbytes // 4, dtype=torch.float32, device=device)
        self.dst = torch.empty_like(self.src)
        self.dst.copy_(self.src)  # touch every page before timing
        self.copies = copies
        self.bytes_moved = copies * 2 * self.src.numel() * self.src.element_size()

    def __call__(self) -> None:
        for _ in range(self.copies):
            self.dst.copy_(self.src)
