"""The GPU check's environment: the carried wheels installed into one folder, and the variables every
check process runs with.

``install`` runs ``pip install --no-index --no-deps --target SITE WHEELS/*.whl`` (the GPU machine has
no network; benchmarks/gpu/build_wheels.sh builds the wheels on a CPU machine). SITE goes first on
PYTHONPATH, so a carried version (transformers 5.23) wins over the machine's own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def wheels_in(folder: Path) -> list[Path]:
    return sorted(Path(folder).glob("*.whl"))


def install(wheels: Path, site: Path, log) -> list[str]:
    """Install every wheel of ``wheels`` into ``site``; returns their file names. Raises on failure."""
    files = wheels_in(wheels)
    if not files:
        raise FileNotFoundError(f"no wheels in {wheels}: build them with `make gpu-wheels` and carry the folder")
    command = [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--no-compile", "--no-cache-dir",
               "--upgrade", "--target", str(site), *map(str, files)]
    subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
    return [f.name for f in files]


def environment(site: Path | None, cache: Path) -> dict[str, str]:
    """os.environ for a check process: SITE and the repository on PYTHONPATH, everything offline, one
    Triton cache shared by all checks (autotuning results too), unbuffered output."""
    paths = [str(site)] if site is not None else []
    paths += [str(REPO), os.environ.get("PYTHONPATH", "")]
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join(p for p in paths if p),
        PYTHONUNBUFFERED="1",
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        TRITON_CACHE_DIR=str(cache / "triton"),
        TRITON_CACHE_AUTOTUNING="1",
        HF_HOME=str(cache / "hf"),
    )
    env.pop("SPIKINGMAMBA_NEURON_BACKEND", None)  # every check chooses its backends itself
    return env
