"""``python -m benchmarks.gpu_check`` (``make gpu-check``): every CUDA path of the project, run once on
one GPU machine within about 6 minutes. OUT receives two files: gpu_check.json (results) and
gpu_check.log (everything, every check's output included); WORK holds the checks' own files
(checkpoints, per-check logs and results, caches).

1. install the wheels carried in WHEELS (benchmarks/gpu/build_wheels.sh; the machine has no network)
   into SITE, which goes first on every check's PYTHONPATH;
2. run the checks of benchmarks/gpu/plan.py, each in its own process with a time budget
   (benchmarks/gpu/runner.py), under a kernel switch (benchmarks/gpu/kernel_switch.py).

Without CUDA it prints the checks it would run and a "no CUDA" line, and exits 0. Exit status 1 when
any check did not pass (a skipped ZeRO-3 check without deepspeed counts as passed).

Not run yet: no session so far had a GPU; DEVELOPERS.md says how to run it on one.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import sys
import time
from pathlib import Path

import torch

from benchmarks.gpu import plan, runner, site

PACKAGES = ("torch", "triton", "cupy-cuda13x", "transformers", "accelerate", "spikingjelly", "mamba-ssm",
            "causal-conv1d", "deepspeed", "datasets", "trl", "lm-eval", "huggingface-hub", "pyarrow", "numpy")
DONE = ("passed", "skipped")


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/gpu-check"), help="for gpu_check.json and .log")
    parser.add_argument("--work", type=Path, default=Path("/tmp/spikingmamba-gpu-check"), help="the checks' files")
    parser.add_argument("--wheels", type=Path, default=site.REPO / ".whl", help="the carried wheels")
    parser.add_argument("--site", type=Path, default=Path("/tmp/spikingmamba-gpu-site"), help="where they go")
    parser.add_argument("--budget", type=float, default=345, help="seconds for everything (default 345)")
    parser.add_argument("--kernel-switch", default="triton-one-config", choices=("triton-one-config", "triton"),
                        help="triton-one-config (default): each mamba_ssm kernel compiled for one configuration; "
                             "triton: mamba_ssm's full autotuning (minutes more on a fresh machine)")
    parser.add_argument("--only", nargs="+", metavar="CHECK", help=f"run only these: {[c.name for c in plan.CHECKS]}")
    return parser.parse_args(argv)


def describe(checks, wheels: Path) -> str:
    lines = [f"  install        pip install --no-index --no-deps --target SITE {wheels}/*.whl "
             f"({len(site.wheels_in(wheels))} wheels there now)"]
    for c in checks:
        lines.append(f"  {c.name:<14} {'alone' if c.alone else 'together'}, {c.budget_s} s: {c.what}")
    return "\n".join(lines)


def versions(site_dir: Path) -> dict:
    found = {}
    for name in PACKAGES:
        dists = list(importlib.metadata.distributions(name=name, path=[str(site_dir), *sys.path]))
        found[name] = dists[0].version if dists else None
    return found


def gpu() -> dict:
    props = torch.cuda.get_device_properties(0)
    return {"name": props.name, "capability": f"{props.major}.{props.minor}", "memory_bytes": props.total_memory,
            "count": torch.cuda.device_count(), "torch": torch.__version__, "cuda": torch.version.cuda}


def install(args, log) -> dict:
    start = time.monotonic()
    try:
        names = site.install(args.wheels, args.site, log)
    except Exception as error:  # noqa: BLE001  (the checks still run and say what is missing)
        return {"status": "failed", "error": f"{type(error).__name__}: {error}",
                "seconds": round(time.monotonic() - start, 1)}
    return {"status": "passed", "wheels": names, "seconds": round(time.monotonic() - start, 1)}


def write(report: dict, out: Path) -> None:
    report["passed"] = bool(report["checks"]) and all(r["status"] in DONE for r in report["checks"].values())
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str) + "\n")


def main(argv=None) -> int:
    args = parse(argv)
    checks = plan.select(args.only)
    print("GPU check: the checks it runs on a CUDA machine, in order:\n" + describe(checks, args.wheels))
    if not torch.cuda.is_available():
        print(f"no CUDA: torch.cuda.is_available() is False (torch {torch.__version__}, CUDA build "
              f"{torch.version.cuda}); nothing was run. Run it on a GPU machine: see DEVELOPERS.md.")
        return 0
    deadline = time.monotonic() + args.budget
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "gpu": gpu(), "kernel_switch": args.kernel_switch, "checks": {}}
    with open(args.out / "gpu_check.log", "w") as log:
        def say(message):
            print(message, flush=True)
            log.write(message + "\n")
            log.flush()

        say(f"{report['date']}: {report['gpu']['name']}, torch {torch.__version__}, CUDA {torch.version.cuda}")
        report["install"] = install(args, log)
        say(f"install: {report['install']['status']} ({report['install']['seconds']} s)")
        report["versions"] = versions(args.site)
        env = site.environment(args.site, args.work / "cache")
        for group in ([c for c in checks if not c.alone], [c for c in checks if c.alone]):
            if group:
                say(f"running {[c.name for c in group]}")
                report["checks"].update(runner.run_together(group, args.kernel_switch, args.work, env, deadline, say))
                write(report, args.out)  # what is known so far, should the whole command be stopped
        for name in report["checks"]:
            log.write(f"\n===== {name} =====\n" + (args.work / "logs" / f"{name}.log").read_text(errors="replace"))
    write(report, args.out)
    print(f"wrote {args.out / 'gpu_check.json'}: " + ", ".join(f"{n} {r['status']}" for n, r in report["checks"].items()))
    return 0 if report["passed"] else 1

if __name__ == "__main__":
    sys.exit(main())
