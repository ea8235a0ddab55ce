"""Shared fixtures of the neuron tests: the CUDA kernel sources compiled for the host (g++ via
host_shim.cpp) and a launcher that runs them through ctypes exactly where neurons.cupy_backend
would launch them on a GPU."""

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from neurons.cupy_backend import KERNEL_DIR, check_launch
from neurons.kinds import KINDS

SHIM = Path(__file__).with_name("host_shim.cpp")
HOST_HEADER_DIR = KERNEL_DIR.parent / "csrc"  # cuda_on_host.h
HOST_FLAGS = ["-O2", "-std=c++17", "-shared", "-fPIC", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror"]


def compile_for_host(kind: str, out_dir: Path) -> ctypes.CDLL:
    library = out_dir / f"{kind}_host.so"
    command = ["g++", *HOST_FLAGS, f"-I{KERNEL_DIR}", f"-I{HOST_HEADER_DIR}", f'-DNEURON_SOURCE="{kind}.cuh"',
               str(SHIM), "-o", str(library)]
    subprocess.run(command, check=True, capture_output=True, text=True)
    return ctypes.CDLL(str(library))


@pytest.fixture(scope="session")
def host_kernels(tmp_path_factory) -> dict[str, ctypes.CDLL]:
    if shutil.which("g++") is None:
        pytest.skip("g++ not found: the host build of the CUDA kernels needs a C++ compiler")
    out_dir = tmp_path_factory.mktemp("host_kernels")
    return {kind: compile_for_host(kind, out_dir) for kind in KINDS}


def _c_argument(value):
    if isinstance(value, torch.Tensor):
        assert value.is_contiguous() and value.device.type == "cpu"
        return ctypes.c_void_p(value.data_ptr())
    return {np.int64: ctypes.c_longlong, np.int32: ctypes.c_int, np.float32: ctypes.c_float}[type(value)](value)


@pytest.fixture(scope="session")
def host_launch(host_kernels):
    """A drop-in for neurons.cupy_backend.launch_cuda that runs the host-compiled kernel, after the
    same argument check."""

    def launch(kind, name, device, N, *args):
        assert device.type == "cpu"
        check_launch(kind, name, device, N, *args)
        getattr(host_kernels[kind], f"{kind}_{name}")(*map(_c_argument, args))

    return launch

