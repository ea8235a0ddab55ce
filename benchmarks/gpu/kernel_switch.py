"""``python -m benchmarks.gpu.kernel_switch MODE MODULE [ARGS ...]``: run MODULE (as ``python -m
MODULE ARGS``) with the Mamba2 kernels switched on or off for the whole process; MODE is also left
in ``$SPIKINGMAMBA_KERNEL_SWITCH`` for the processes MODULE starts.

triton: mamba_ssm's Triton kernels import without running the package's ``__init__``. A wheel built
with ``MAMBA_SKIP_CUDA_BUILD=TRUE`` has no compiled ``selective_scan_cuda``, which
``mamba_ssm/__init__.py`` imports unconditionally (through ``ops/selective_scan_interface.py``, for
Mamba1), so ``import mamba_ssm.ops.triton.ssd_combined`` would fail. The package is registered in
``sys.modules`` from its import spec without executing it: its subpackages then import normally,
and nothing pretends that the compiled module exists (a stub would only move the failure).
``mamba_ssm.ops``, ``ops.triton`` and ``utils`` have empty ``__init__`` files, so only what is asked
for runs. causal_conv1d is left as installed (its wheel, when carried, is a real sm_90 build).

triton-one-config: the same, but each autotuned kernel keeps one configuration — the one mamba_ssm's
own deterministic mode picks (``utils.determinism.autotune_configs``: the smallest blocks × stages).
Deterministic mode is on only while the kernel modules are imported (when the autotune decorators
read it), then back to its shipped setting (off unless MAMBA_DETERMINISTIC or torch's deterministic
flag says otherwise) before any call, so the kernels run their default algorithms. mamba_ssm's SSD
kernels carry about 200 autotune configurations; compiling them all takes minutes on a fresh machine.

torch: mamba_ssm and causal_conv1d are hidden (``None`` in ``sys.modules``: importing them raises
ImportError), so models/kernels.py and transformers' Mamba2 take their plain-PyTorch paths on the
same GPU — the reference the kernel paths are compared with.
"""

import importlib
import importlib.util
import os
import runpy
import sys
import warnings

HIDDEN = ("mamba_ssm", "causal_conv1d")
MODES = ("triton", "triton-one-config", "torch")
ENV = "SPIKINGMAMBA_KERNEL_SWITCH"
AUTOTUNED = ("ssd_bmm", "ssd_chunk_state", "ssd_state_passing", "ssd_chunk_scan", "ssd_combined")


def skip_package_init(name: str) -> bool:
    """Register package ``name`` without executing its ``__init__``; False if it is not installed."""
    if name in sys.modules:
        return True
    spec = importlib.util.find_spec(name)
    if spec is None:
        return False
    sys.modules[name] = importlib.util.module_from_spec(spec)
    return True


def import_with_one_config() -> None:
    """Import the autotuned SSD modules under mamba_ssm's deterministic mode, then leave it."""
    from mamba_ssm.utils import determinism

    os.environ.pop("TRITON_CACHE_AUTOTUNING", None)  # with it, deterministic mode keeps every config
    determinism.set_deterministic_mode(True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its notice about cached autotuning
        for name in AUTOTUNED:
            importlib.import_module(f"mamba_ssm.ops.triton.{name}")
    determinism.set_deterministic_mode(None)  # calls: MAMBA_DETERMINISTIC / torch's setting, as shipped


def switch(mode: str) -> None:
    if mode not in MODES:
        raise SystemExit(f"kernel_switch: mode must be one of {MODES}, got {mode!r}")
    os.environ[ENV] = mode
    if mode == "torch":
        for name in HIDDEN:
            sys.modules[name] = None
    elif skip_package_init("mamba_ssm") and mode == "triton-one-config":
        import_with_one_config()


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit(__doc__.split("\n\n")[0])
    mode, module, *args = argv
    switch(mode)
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
