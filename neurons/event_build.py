"""Builds neurons/csrc/event_linear.cpp on first use (``torch.utils.cpp_extension.load``), once per
machine, or says once why it cannot and lets neurons.event fall back to its pure-torch forms.
`load_cpu_extension` (the flags, the cache, the per-capability name) also builds models/csrc/.

The build goes to torch's extension cache (``$TORCH_EXTENSIONS_DIR``, default
``~/.cache/torch_extensions/py311_cpu/<name>``); torch's file lock in that folder makes concurrent
first uses (pytest-xdist workers) build once and wait for each other. The first build takes
~30–60 s on a 2-core machine. It needs a C++ compiler and ninja on PATH (both preinstalled on the
project's machines; ``torch.utils.cpp_extension`` runs ``ninja`` from PATH, so the PyPI ``ninja``
wheel in a venv that is not activated is not found); without them, or when the build fails,
``kernels()`` returns None after one ``EventKernelWarning``. The instruction set is chosen from
torch's own CPU capability (AVX-512, AVX2 or none) and named in the extension, so a cache shared by
different CPUs never loads code for another one. A stale ``lock`` file left by a build that was
killed makes later first uses wait: delete the extension's folder then.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from types import ModuleType

import torch

from .cupy_backend import KERNEL_DIR  # the neurons' CUDA sources: the count (spike_count) is theirs

SOURCE_DIR = Path(__file__).parent / "csrc"
ARCH_FLAGS = {
    "AVX512": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx2", "-mfma"],
    "AVX2": ["-mavx2", "-mfma"],
}
# -ffp-contract=off: the count's roundings are the neurons' (one IEEE operation each, no FMA);
# -fno-trapping-math (as torch's own build) lets the count loop vectorise, results unchanged.
CFLAGS = ["-O3", "-ffp-contract=off", "-fno-trapping-math"]


class EventKernelWarning(UserWarning):
    """The C++ event kernels could not be built or loaded: neurons.event uses its pure-torch forms."""


def load_cpu_extension(name: str, source: Path, capability: str, include_paths: tuple[Path, ...] = ()) -> ModuleType:
    """Compile (or load from the cache) one C++ source as the extension ``<name>_<capability>``, with
    this project's flags for that CPU capability; raises on failure. Also used by models.kernels."""
    from torch.utils.cpp_extension import load

    return load(
        name=f"{name}_{capability.lower()}",
        sources=[str(source)],
        extra_cflags=CFLAGS + ARCH_FLAGS.get(capability, []),
        extra_include_paths=[str(p) for p in include_paths],
        verbose=False,
    )


def build(capability: str) -> ModuleType:
    """Compile (or load from the cache) the event kernels for one CPU capability; raises on failure."""
    return load_cpu_extension("spikingmamba_event", SOURCE_DIR / "event_linear.cpp", capability,
                              (SOURCE_DIR, KERNEL_DIR))


@functools.cache
def kernels() -> ModuleType | None:
    """The built extension, or None (with one EventKernelWarning per process) when it cannot be built."""
    capability = torch.backends.cpu.get_cpu_capability()
    try:
        return build(capability)
    except Exception as error:  # a missing compiler or ninja, a failed compile or link, an import error
        warnings.warn(
            f"neurons.event: the C++ event kernels could not be built ({type(error).__name__}: ..."
            f"{str(error).strip()[-400:]}); using the slower pure-torch event forms. The build needs a C++ "
            "compiler (g++) and ninja on PATH (Debian: apt-get install g++ ninja-build).",
            EventKernelWarning,
            stacklevel=3,
        )
        return None
