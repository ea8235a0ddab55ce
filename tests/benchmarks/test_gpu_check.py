"""The GPU check's CPU-testable parts: its no-CUDA path, the kernel switch (on a fake mamba_ssm whose
``__init__`` needs the compiled module a MAMBA_SKIP_CUDA_BUILD wheel lacks), the runner's isolation
and budgets, the environment of its processes, the sm_90 patch and the wheel list."""

import importlib
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from benchmarks.gpu import plan, runner, site
from benchmarks.gpu.sm90_only import sm90_only

REPO = Path(__file__).resolve().parents[2]


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def run_python(args, root: Path, **env):
    """``python ARGS`` as a check process runs, with ``root`` (modules of the test) first on the path."""
    environ = site.environment(None, root / "cache")
    environ["PYTHONPATH"] = f"{root}:{environ['PYTHONPATH']}"
    environ.update(env)
    return subprocess.run([sys.executable, *args], cwd=REPO, env=environ, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the path taken without CUDA")
def test_without_cuda_it_lists_the_checks_and_exits_0():
    done = subprocess.run(["make", "gpu-check", f"GPU_PYTHON={sys.executable}"], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "no CUDA: torch.cuda.is_available() is False" in done.stdout and "nothing was run" in done.stdout
    for check in plan.CHECKS:
        assert f"  {check.name} " in done.stdout


def test_unknown_check_is_named():
    with pytest.raises(ValueError, match=r"unknown checks \['speedy'\]"):
        plan.select(["speedy"])


FAKE_MAMBA_SSM = {
    "mamba_ssm/__init__.py": "import selective_scan_cuda  # the compiled Mamba1 scan: absent\n",
    "mamba_ssm/ops/__init__.py": "",
    "mamba_ssm/ops/triton/__init__.py": "",
    "mamba_ssm/ops/triton/ssd_combined.py": "def mamba_chunk_scan_combined():\n    return 'triton scan'\n",
    "mamba_ssm/ops/triton/selective_state_update.py": "def selective_state_update():\n    pass\n",
    "mamba_ssm/ops/triton/layernorm_gated.py": "def rmsnorm_fn():\n    pass\n",
    "probe.py": """
        import os, sys
        import torch
        from models import kernels
        kernels.on_cuda = lambda tensor: True  # the seam: pretend the tensor is on CUDA
        found = kernels.cuda_kernels(torch.zeros(1))
        print(os.environ["SPIKINGMAMBA_KERNEL_SWITCH"], sys.argv[1:],
              None if found is None else found.chunk_scan())
    """,
}


def test_triton_switch_imports_the_kernels_without_the_package_init(tmp_path):
    root = write(tmp_path, FAKE_MAMBA_SSM)
    plain = run_python(["-c", "import mamba_ssm.ops.triton.ssd_combined"], root)
    assert "No module named 'selective_scan_cuda'" in plain.stderr  # what the switch gets round
    done = run_python(["-m", "benchmarks.gpu.kernel_switch", "triton", "probe", "--flag"], root)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["triton", "['--flag']", "triton", "scan"]


def test_torch_switch_hides_the_kernel_packages(tmp_path):
    root = write(tmp_path, FAKE_MAMBA_SSM)
    done = run_python(["-m", "benchmarks.gpu.kernel_switch", "torch", "probe"], root)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["torch", "[]", "None"]


def test_one_config_switch_sets_deterministic_mode_only_while_importing(tmp_path):
    modules = {f"mamba_ssm/ops/triton/{name}.py": """
        from mamba_ssm.utils import determinism
        determinism.SEEN.append(determinism.use_deterministic_mode())
    """ for name in ("ssd_bmm", "ssd_chunk_state", "ssd_state_passing", "ssd_chunk_scan", "ssd_combined")}
    root = write(tmp_path, {**FAKE_MAMBA_SSM, **modules,
                            "mamba_ssm/utils/__init__.py": "",
                            "mamba_ssm/utils/determinism.py": """
        SEEN, _override = [], None
        def set_deterministic_mode(value):
            global _override
            _override = value
        def use_deterministic_mode():
            return bool(_override)
    """, "probe_determinism.py": """
        import os
        from mamba_ssm.utils import determinism
        print(determinism.SEEN, determinism._override, os.environ.get("TRITON_CACHE_AUTOTUNING"))
    """})
    done = run_python(["-m", "benchmarks.gpu.kernel_switch", "triton-one-config", "probe_determinism"], root,
                      TRITON_CACHE_AUTOTUNING="1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[True,", "True,", "True,", "True,", "True]", "None", "None"]


def test_bad_switch_mode_is_named(tmp_path):
    done = run_python(["-m", "benchmarks.gpu.kernel_switch", "cuda", "probe"], tmp_path)
    assert "mode must be one of ('triton', 'triton-one-config', 'torch'), got 'cuda'" in done.stderr


CHECK_MODULES = {
    "check_ok.py": """
        from benchmarks.gpu.report import run_check
        run_check(lambda work: {"status": "passed", "work_exists": work.is_dir()})
    """,
    "check_fails.py": """
        from benchmarks.gpu.report import run_check
        def body(work):
            raise RuntimeError("kernel returned garbage")
        run_check(body)
    """,
    "check_crashes.py": "import os\nos._exit(3)\n",
    "check_hangs.py": "import time\ntime.sleep(120)\n",
}


def test_runner_isolates_checks_and_enforces_budgets(tmp_path):
    root = write(tmp_path / "modules", CHECK_MODULES)
    env = site.environment(None, tmp_path / "cache")
    env["PYTHONPATH"] = f"{root}:{env['PYTHONPATH']}"
    checks = [plan.Check(name, f"check_{name}", budget, name) for name, budget in
              (("ok", 120), ("fails", 120), ("crashes", 120), ("hangs", 3))]
    start = time.monotonic()
    results = runner.run_together(checks, "torch", tmp_path / "out", env, deadline=start + 200, say=lambda m: None)
    assert time.monotonic() - start < 100
    assert {name: r["status"] for name, r in results.items()} == {
        "ok": "passed", "fails": "failed", "crashes": "crashed", "hangs": "timeout"}
    assert results["ok"]["work_exists"] and results["ok"]["returncode"] == 0
    assert "RuntimeError: kernel returned garbage" in results["fails"]["error"]
    assert results["crashes"]["returncode"] == 3
    assert (tmp_path / "out" / "logs" / "hangs.log").exists()


def test_environment_of_a_check(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKINGMAMBA_NEURON_BACKEND", "torch")
    env = site.environment(tmp_path / "site", tmp_path / "cache")
    assert env["PYTHONPATH"].split(":")[:2] == [str(tmp_path / "site"), str(REPO)]
    assert env["HF_HUB_OFFLINE"] == env["HF_DATASETS_OFFLINE"] == "1"
    assert env["TRITON_CACHE_DIR"] == str(tmp_path / "cache" / "triton")
    assert "SPIKINGMAMBA_NEURON_BACKEND" not in env


def test_install_without_wheels_says_how_to_build_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="make gpu-wheels"):
        site.install(tmp_path, tmp_path / "site", None)


SETUP_PY = """
        cc_flag.append("-gencode")
        cc_flag.append("arch=compute_80,code=sm_80")
        if bare_metal_version >= Version("11.8"):
            cc_flag.append("-gencode")
            cc_flag.append("arch=compute_90,code=sm_90")
        if bare_metal_version >= Version("12.8"):
            cc_flag.append("-gencode")
            cc_flag.append("arch=compute_100,code=sm_100")
"""


def test_sm90_only_keeps_sm90_alone():
    patched = sm90_only(SETUP_PY)
    assert "arch=compute_90,code=sm_90" in patched and "sm_80" not in patched and "sm_100" not in patched
    compile(textwrap.dedent(patched), "setup.py", "exec")
    with pytest.raises(SystemExit, match="no -gencode pair for sm_90"):
        sm90_only(SETUP_PY.replace("90", "89"))


def test_wheel_list_is_pinned():
    lines = [line for line in (REPO / "benchmarks/gpu/wheels.txt").read_text().splitlines()
             if line and not line.startswith("#")]
    assert lines and all(line.count("==") == 1 for line in lines)


def test_a_run_writes_its_json_and_log_with_every_check(tmp_path, monkeypatch):
    """The whole flow on a pretend GPU: install, checks together then alone, one JSON, one log."""
    from benchmarks import gpu_check

    root = write(tmp_path / "modules", CHECK_MODULES)
    environment = site.environment
    monkeypatch.setattr(gpu_check.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(gpu_check, "gpu", lambda: {"name": "pretend GPU"})
    monkeypatch.setattr(site, "install", lambda wheels, where, log: ["a.whl"])
    monkeypatch.setattr(site, "environment", lambda where, cache: {
        **environment(where, cache), "PYTHONPATH": f"{root}:{environment(where, cache)['PYTHONPATH']}"})
    monkeypatch.setattr(plan, "CHECKS", (plan.Check("ok", "check_ok", 120, "passes"),
                                         plan.Check("fails", "check_fails", 120, "fails"),
                                         plan.Check("later", "check_ok", 120, "passes, alone", alone=True)))
    out = tmp_path / "out"
    assert gpu_check.main(["--out", str(out), "--work", str(tmp_path / "work")]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["gpu_check.json", "gpu_check.log"]
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["gpu"] == {"name": "pretend GPU"} and report["install"]["wheels"] == ["a.whl"]
    assert {n: r["status"] for n, r in report["checks"].items()} == {"ok": "passed", "fails": "failed",
                                                                     "later": "passed"}
    assert report["passed"] is False and report["versions"]["torch"] is not None
    log = (out / "gpu_check.log").read_text()
    assert "===== fails =====" in log and "kernel returned garbage" in log


@pytest.mark.parametrize("check", plan.CHECKS, ids=[c.name for c in plan.CHECKS])
def test_every_check_module_imports_without_cuda(check):
    importlib.import_module(check.module)
