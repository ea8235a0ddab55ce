"""Helpers for the distillation tests: a small run config and ways to run the CLI in-process or as a
subprocess (offline, one thread, so CPU fp32 results are bitwise reproducible across runs)."""
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from pipelines.config import load_config
from pipelines.distill.config import DistillConfig

REPO = Path(__file__).resolve().parents[2]
TINY = str(REPO / "pipelines/configs/distill_tiny.yaml")
CORPUS = str(REPO / "pipelines/configs/data/tiny_corpus.txt")
TEACHER_SHAPE = {"d_model": 32, "n_layer": 3, "d_state": 8, "headdim": 8, "chunk_size": 16}
# 12 steps of 4 sequences of 32 tokens; 1 process x 2 accumulation steps x 2 sequences.
SMALL = ["seq_len=32", "global_batch_size=4", "micro_batch_size=2", "max_steps=12", "save_every=4",
         "keep_last=2", "log_every=1", "tensorboard=false", f"datasets=[{CORPUS}]"]


def small_config(teacher: str, output_dir, *extra: str) -> DistillConfig:
    return load_config(DistillConfig, TINY, [f"teacher={teacher}", f"output_dir={output_dir}", *SMALL, *extra])


def run_in_process(cfg: DistillConfig) -> dict:
    """``run(cfg)`` with one torch thread (as the subprocesses), restoring the thread count after."""
    from pipelines.distill.train import run

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run(cfg)
    finally:
        torch.set_num_threads(threads)


def subprocess_env(tmp_path) -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
            "HF_DATASETS_CACHE": str(tmp_path / "ds_cache"), "PYTHONPATH": str(REPO)}


def cli_command(teacher: str, output_dir, *extra: str) -> list[str]:
    return ["-m", "pipelines", "distill", "--config", TINY, f"teacher={teacher}", f"output_dir={output_dir}",
            *SMALL, *extra]


def run_cli(args: list[str], env: dict, launcher: list[str] | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([*(launcher or [sys.executable]), *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def max_abs_diff(path_a, path_b) -> float:
    """max |a - b| over all tensors of two safetensors files (DDP's "module." prefix ignored)."""
    a, b = ({k.removeprefix("module."): v for k, v in load_file(p).items()} for p in (path_a, path_b))
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def run_preset(preset: str, output_dir) -> tuple[DistillConfig, float]:
    """Run a shipped preset in-process into ``output_dir``: (its config, wall seconds)."""
    import time

    cfg = load_config(DistillConfig, preset, [f"output_dir={output_dir}"])
    start = time.perf_counter()
    run_in_process(cfg)
    return cfg, time.perf_counter() - start
