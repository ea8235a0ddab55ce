"""The demo's parallel stage: one single-threaded worker process per CPU core.

Every job is independent once the teacher exists — evaluate the teacher; distil a student and
evaluate it; align the TI-LIF + SGC student (after its distillation) or the teacher and evaluate the
result — so
``jobs`` worker processes run them side by side, each with one torch thread. On a small CPU this
is what uses the second core: these models are made of many small kernels, for which a second
OpenMP thread gains little, and a two-thread team slows down several-fold as soon as anything
else runs on the machine, whereas separate processes degrade gracefully.

Each job writes its console output (the pipelines' tqdm bars) to ``<out>/logs/<job>.log``; the main
process prints a status line with the latest progress of every running job and the demo's ETA.
"""
from __future__ import annotations

import functools
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from pipelines.demo.prepare import DemoData
from pipelines.demo.recipe import DemoRecipe, Student


@dataclass(frozen=True)
class Job:
    """``kind``: "evaluate" (the model at ``path``; None = the teacher), "student" (distil ``student``
    then evaluate) or "align" (DPO/KTO on ``student``'s distillation run, or on the teacher when
    ``student`` is None, then evaluate). The row it fills in the table is the part of ``name`` after ":"."""

    name: str
    kind: str
    work: float                       # planned token passes, for the ETA
    path: Path | None = None
    student: Student | None = None
    after: tuple[str, ...] = field(default=())   # jobs that must finish first

    @property
    def label(self) -> str:
        return self.name.split(":")[-1]


@dataclass(frozen=True)
class Context:
    recipe: DemoRecipe
    data: DemoData
    teacher_dir: Path
    out: Path
    datasets_cache: str
    threads: int = 1


@functools.lru_cache(maxsize=1)
def _eval_tools(task_dir: str, teacher_dir: str):
    from lm_eval.tasks import TaskManager
    from transformers import AutoTokenizer

    return TaskManager(include_path=task_dir, include_defaults=False), AutoTokenizer.from_pretrained(teacher_dir)


def _redirect_output(log: Path) -> None:
    """Send this process's stdout/stderr (also of C code and subprocesses) to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def run_job(job: Job, ctx: Context) -> dict:
    """Worker entry point: run ``job``; returns ``{"name", "final", "result", "seconds", "cpu_seconds"}``."""
    import torch

    from pipelines.demo.evaluate import evaluate
    from pipelines.demo.files import write_json
    from pipelines.demo.training import align, distill_student, student_policy

    _redirect_output(ctx.out / "logs" / f"{job.name}.log")
    torch.set_num_threads(ctx.threads)
    t0, c0 = time.perf_counter(), time.process_time()
    if job.kind == "evaluate":
        final = job.path or ctx.teacher_dir
    elif job.kind == "student":
        final = distill_student(ctx.recipe, job.student, ctx.teacher_dir, ctx.data,
                                ctx.out / "students" / job.student.name, ctx.datasets_cache)
    elif job.kind == "align":
        policy, sgc_run = ((ctx.teacher_dir, None) if job.student is None
                           else student_policy(job.student, ctx.out / "students" / job.student.name))
        final = align(ctx.recipe, policy, ctx.data, ctx.out / "align" / job.label, ctx.datasets_cache, sgc_run)
    else:
        raise ValueError(f"unknown job kind {job.kind!r}")
    manager, tokenizer = _eval_tools(str(ctx.data.task_dir), str(ctx.teacher_dir))
    result = evaluate(final, job.label, ctx.data, ctx.recipe, manager, tokenizer, ctx.out / "eval")
    write_json(ctx.out / "eval" / f"{job.label}.json", result)
    return {"name": job.name, "final": str(final), "result": result,
            "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}


def last_progress(log: Path, width: int = 90) -> str:
    """The newest line of a job's log (tqdm redraws with \\r), shortened."""
    try:
        with open(log, "rb") as f:
            f.seek(max(0, log.stat().st_size - 4096))
            tail = f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return "starting"
    lines = [s.strip() for s in tail.replace("\r", "\n").split("\n") if s.strip()]
    return (lines[-1] if lines else "starting")[:width]


def run_jobs(jobs: list[Job], ctx: Context, workers: int, on_status, poll_seconds: float = 20.0,
             worker=run_job) -> dict[str, dict]:
    """Run ``jobs`` (each after the jobs in its ``after``) on ``workers`` processes, in list order.

    ``on_status(done_work, running, finished)`` is called after every completion and at least every
    ``poll_seconds``: the planned work of the finished jobs, ``{name: latest log line}`` of the running
    ones, and the results just finished. ``worker(job, ctx)`` runs one job in a worker process (a
    picklable top-level function). Returns results by job name; the first failure stops scheduling
    and is re-raised naming the job's log."""
    pending, results, running = list(jobs), {}, {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        while pending or running:
            ready = [j for j in pending if all(a in results for a in j.after)]
            for job in ready[: workers - len(running)]:
                pending.remove(job)
                running[pool.submit(worker, job, ctx)] = job
            finished, _ = wait(running, timeout=poll_seconds, return_when=FIRST_COMPLETED)
            just_done = []
            for future in finished:
                job = running.pop(future)
                try:
                    results[job.name] = future.result()
                except Exception as err:
                    pending.clear()
                    raise RuntimeError(f"demo job {job.name} failed ({type(err).__name__}: {err}); its output "
                                       f"is in {ctx.out / 'logs' / (job.name + '.log')}") from err
                just_done.append(results[job.name])
            done = sum(j.work for j in jobs if j.name in results)
            on_status(done, {j.name: last_progress(ctx.out / "logs" / f"{j.name}.log") for j in running.values()},
                      just_done)
    return results
