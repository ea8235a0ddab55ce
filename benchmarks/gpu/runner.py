"""Run checks as separate processes, each under its time budget, and collect their results.

A check is ``python -m benchmarks.gpu.kernel_switch SWITCH MODULE --result R --work W ARGS`` in its own
process group, its output in OUT/logs/NAME.log. One that fails, crashes or hangs touches no other:
past its budget (or the run's deadline) its whole group is killed and its status is "timeout"; one
that exits without a result file is "crashed", with the end of its log.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.gpu.plan import Check
from benchmarks.gpu.site import REPO

TAIL_CHARS = 3000


def tail(path: Path) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return text[-TAIL_CHARS:]


def start(check: Check, switch: str, out: Path, env: dict) -> tuple[subprocess.Popen, Path, Path]:
    result, log = out / "results" / f"{check.name}.json", out / "logs" / f"{check.name}.log"
    result.parent.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    result.unlink(missing_ok=True)
    command = [sys.executable, "-m", "benchmarks.gpu.kernel_switch", switch, check.module, "--result", str(result),
               "--work", str(out / "work" / check.name), *check.args]
    with open(log, "w") as f:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    return process, result, log


def finish(process: subprocess.Popen, result: Path, log: Path, seconds: float, timed_out: bool) -> dict:
    if timed_out:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return {"status": "timeout", "seconds": round(seconds, 1), "log_tail": tail(log)}
    if not result.exists():
        return {"status": "crashed", "returncode": process.returncode, "seconds": round(seconds, 1),
                "log_tail": tail(log)}
    found = json.loads(result.read_text())
    found.update(returncode=process.returncode, seconds=round(seconds, 1))
    if found.get("status") == "failed":
        found.setdefault("log_tail", tail(log))
    return found


def run_together(checks: list[Check], switch: str, out: Path, env: dict, deadline: float,
                 say=print) -> dict[str, dict]:
    """Start every check at once; each ends by itself, at its budget or at ``deadline`` (monotonic)."""
    begun = time.monotonic()
    running = {c.name: (c, *start(c, switch, out, env)) for c in checks}
    results = {}
    while running:
        time.sleep(0.5)
        now = time.monotonic()
        for name, (check, process, result, log) in list(running.items()):
            over = now - begun > check.budget_s or now > deadline
            if process.poll() is not None or over:
                results[name] = finish(process, result, log, now - begun, timed_out=process.poll() is None)
                say(f"  {name}: {results[name]['status']} ({results[name]['seconds']} s)")
                del running[name]
    return results
