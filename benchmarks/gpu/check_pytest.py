"""Check "pytest_gpu": ``pytest -m gpu`` — the tests that skip without CUDA (the CuPy backend on the
GPU, its hypothesis fuzz cases, backend "auto" on CUDA tensors, and any later ones) — under the
same kernel switch as this process. Passed when every selected test ran and none failed: a skip
here means the GPU path it guards did not run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

from benchmarks.gpu.report import run_check, status
from benchmarks.gpu.site import REPO


def check(work) -> dict:
    junit = work / "pytest.xml"
    switch = os.environ.get("SPIKINGMAMBA_KERNEL_SWITCH", "triton")
    command = [sys.executable, "-m", "benchmarks.gpu.kernel_switch", switch, "pytest", "-m", "gpu", "-q",
               "-p", "no:cacheprovider", f"--junitxml={junit}", "tests"]
    rc = subprocess.run(command, cwd=REPO).returncode
    suite = ElementTree.parse(junit).getroot()
    suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
    counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
    not_passed = [f"{case.get('classname')}::{case.get('name')}: {child.tag}"
                  for case in suite.iter("testcase") for child in case if child.tag in ("failure", "error", "skipped")]
    ok = rc == 0 and counts["tests"] > 0 and counts["failures"] == counts["errors"] == counts["skipped"] == 0
    return {"status": status(ok), "returncode": rc, **counts, "not_passed": not_passed}


if __name__ == "__main__":
    run_check(check)
