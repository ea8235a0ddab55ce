"""The parallel stage's scheduler: order, dependencies, status lines, failures naming the log."""
import os
import time
from pathlib import Path

import pytest

from pipelines.demo.jobs import Context, Job, last_progress, run_jobs


def record_job(job, ctx):
    """A stand-in worker: logs a tqdm-like line, notes when it ran and in which process."""
    log = ctx.out / "logs" / f"{job.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("tokenizing\r 50%|#####     | 1/2\r100%|##########| 2/2\n")
    if job.kind == "fail":
        raise ValueError("boom")
    start = time.time()
    if job.kind == "pair":  # a barrier, not a timing guess: run until the partner job has started too
        started = ctx.out / "started"
        started.mkdir(exist_ok=True)
        (started / job.name).touch()
        deadline = time.time() + 60  # run serially, the first of a pair gives up here and the overlap check fails
        while len(list(started.iterdir())) < 2 and time.time() < deadline:
            time.sleep(0.01)
    time.sleep(0.3)
    return {"name": job.name, "pid": os.getpid(), "start": start, "end": time.time()}


@pytest.fixture
def ctx(tmp_path):
    return Context(recipe=None, data=None, teacher_dir=tmp_path, out=tmp_path, datasets_cache="")


def test_dependencies_are_respected_and_status_reported(ctx):
    jobs = [Job("a", "pair", 1.0), Job("b", "pair", 2.0), Job("c", "x", 3.0, after=("a",))]
    calls = []
    results = run_jobs(jobs, ctx, 2, lambda done, running, finished: calls.append((done, [f["name"] for f in finished])),
                       poll_seconds=0.05, worker=record_job)
    assert set(results) == {"a", "b", "c"}
    assert results["c"]["start"] >= results["a"]["end"]
    assert results["a"]["start"] < results["b"]["end"] and results["b"]["start"] < results["a"]["end"]  # in parallel
    assert calls[-1][0] == 6.0 and sorted(n for _, names in calls for n in names) == ["a", "b", "c"]
    assert all(r["pid"] != os.getpid() for r in results.values())


def test_a_failure_names_the_job_and_its_log(ctx):
    with pytest.raises(RuntimeError, match=r"demo job bad failed \(ValueError: boom\).*logs/bad\.log"):
        run_jobs([Job("bad", "fail", 1.0), Job("later", "x", 1.0, after=("bad",))], ctx, 1,
                 lambda *a: None, poll_seconds=0.05, worker=record_job)


def test_last_progress_reads_the_newest_tqdm_redraw(tmp_path):
    log = tmp_path / "x.log"
    assert last_progress(log) == "starting"
    log.write_text("header\nstep:  10%|#  | 1/10\rstep:  20%|## | 2/10")
    assert last_progress(log) == "step:  20%|## | 2/10"
    assert len(last_progress(log, width=5)) == 5
