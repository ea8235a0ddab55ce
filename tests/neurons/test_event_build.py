"""neurons.event_build: where the C++ event kernels cannot be built, one EventKernelWarning, then
neurons.event computes the same results with its pure-torch forms."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from neurons import event, event_build

REPO = Path(__file__).resolve().parents[2]


def test_a_failed_build_warns_once_and_falls_back(monkeypatch):
    def broken_build(capability):
        raise RuntimeError("simulated: no C++ compiler")

    monkeypatch.setattr(event_build, "build", broken_build)
    event_build.kernels.cache_clear()
    try:
        q = torch.tensor([[0.0, 2.0, -1.0]])
        w = torch.randn(4, 3)
        with warnings.catch_warnings(record=True) as caught, torch.inference_mode():
            warnings.simplefilter("always")
            ys = [event.event_linear(q, w) for _ in range(3)]
            y, _ = event.event_spike_project(q, w, None, "tilif", 4, 1.0)
            assert event.event_backend() == "torch"
        messages = [str(c.message) for c in caught if issubclass(c.category, event_build.EventKernelWarning)]
        assert len(messages) == 1 and "simulated: no C++ compiler" in messages[0]
        for out in (*ys, y):
            torch.testing.assert_close(out, F.linear(q, w))
    finally:
        event_build.kernels.cache_clear()  # the next user builds (or loads from the cache) again


def test_no_compiler_on_a_fresh_cache(tmp_path):
    """A real failed build: an empty extension cache and CXX pointing at no compiler."""
    script = (
        "import torch, torch.nn.functional as F\n"
        "from neurons import event\n"
        "q, w = torch.tensor([[0.0, 3.0, -1.0]]), torch.randn(5, 3)\n"
        "with torch.inference_mode():\n"
        "    torch.testing.assert_close(event.event_linear(q, w), F.linear(q, w))\n"
        "print(event.event_backend())\n"
    )
    env = dict(os.environ, CXX=str(tmp_path / "no-such-compiler"), TORCH_EXTENSIONS_DIR=str(tmp_path / "cache"))
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "torch"
    assert run.stderr.count("EventKernelWarning") == 1
