#!/usr/bin/env bash
# Build, on a CPU machine with network, every wheel `make gpu-check` installs on the GPU machine
# (Python 3.12, torch 2.11.0 + CUDA 13, no network): `make gpu-wheels`, or
#   benchmarks/gpu/build_wheels.sh [OUT]          (default OUT: .whl, git-ignored; carried by the device tool)
# Environment: PYTHON312 (default python3.12), BUILD (default build/gpu-wheels: the build venv, ~5 GB),
# CUDA_HOME (default /usr/local/cuda: a CUDA 13 toolkit with nvcc),
# CAUSAL_CONV1D=0 to skip the causal-conv1d extension (about 10 minutes on 2 cores; without it the
# Mamba2 block uses its torch convolution there), CARRY_LIMIT_MB (default 60: what may travel).
#
# 1. a Python 3.12 venv with PyPI's torch==2.11.0 (the GPU machine's 2.11.0+cu130: same CUDA 13 build),
#    so compiled and recorded versions match the machine;
# 2. the binary wheels of benchmarks/gpu/wheels.txt (pip download --no-deps, cp312 manylinux);
# 3. wheels of the packages that publish only sources (pure Python);
# 4. mamba-ssm with MAMBA_SKIP_CUDA_BUILD=TRUE (its Mamba2 kernels are Triton: nothing to compile;
#    MAMBA_FORCE_BUILD=TRUE stops its setup.py from fetching a prebuilt wheel from GitHub);
# 5. deepspeed with no ops prebuilt (DS_BUILD_OPS=0; DS_ACCELERATOR=cuda records the CUDA accelerator);
# 6. causal-conv1d compiled for sm_90 only (the H200) with nvcc, its debug info stripped.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-.whl}
BUILD=${BUILD:-build/gpu-wheels}
PYTHON312=${PYTHON312:-python3.12}
CAUSAL_CONV1D=${CAUSAL_CONV1D:-1}
CARRY_LIMIT_MB=${CARRY_LIMIT_MB:-60}
TORCH=torch==2.11.0
SOURCE_ONLY=(rouge-score==0.1.2 sqlitedict==2.1.0 word2number==1.1)
MAMBA_SSM=mamba-ssm==2.3.2.post1
DEEPSPEED=deepspeed==0.19.8
CAUSAL_CONV1D_VERSION=1.7.0
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)

VENV=$BUILD/venv312
PY=$VENV/bin/python
if [ ! -x "$PY" ]; then
    "$PYTHON312" -m venv "$VENV"
    "$PY" -m pip install --quiet "$TORCH" numpy packaging "setuptools<82" wheel ninja
fi
"$PY" -c "import sys, torch; assert sys.version_info[:2] == (3, 12) and torch.version.cuda.startswith('13'), torch.__version__"

rm -rf "$OUT"
mkdir -p "$OUT"
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${PLATFORMS[@]}" -d "$OUT" -r benchmarks/gpu/wheels.txt
"$PY" -m pip wheel --quiet --no-deps -w "$OUT" "${SOURCE_ONLY[@]}"
MAMBA_SKIP_CUDA_BUILD=TRUE MAMBA_FORCE_BUILD=TRUE \
    "$PY" -m pip wheel --quiet --no-deps --no-build-isolation -w "$OUT" "$MAMBA_SSM"
DS_BUILD_OPS=0 DS_ACCELERATOR=cuda "$PY" -m pip wheel --quiet --no-deps --no-build-isolation -w "$OUT" "$DEEPSPEED"

if [ "$CAUSAL_CONV1D" = 1 ]; then
    CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
    if [ ! -x "$CUDA_HOME/bin/nvcc" ]; then
        echo "no $CUDA_HOME/bin/nvcc: set CUDA_HOME to a CUDA 13 toolkit, or CAUSAL_CONV1D=0 to skip causal-conv1d" >&2
        exit 1
    fi
    SRC=$BUILD/causal-conv1d
    rm -rf "$SRC" "$BUILD/causal-conv1d-wheel"
    mkdir -p "$SRC"
    "$PY" -m pip download --quiet --no-deps --no-binary=:all: --no-build-isolation -d "$SRC" \
        "causal-conv1d==$CAUSAL_CONV1D_VERSION"
    tar -xzf "$SRC"/causal_conv1d-*.tar.gz -C "$SRC"
    # its setup.py names nine GPU architectures; keep sm_90 (H100 / H200) alone
    "$PY" benchmarks/gpu/sm90_only.py "$SRC/causal_conv1d-$CAUSAL_CONV1D_VERSION/setup.py"
    PATH=$CUDA_HOME/bin:$PATH CUDA_HOME=$CUDA_HOME CAUSAL_CONV1D_FORCE_BUILD=TRUE MAX_JOBS=${MAX_JOBS:-2} \
        "$PY" -m pip wheel --quiet --no-deps --no-build-isolation -w "$BUILD/causal-conv1d-wheel" \
        "$SRC/causal_conv1d-$CAUSAL_CONV1D_VERSION"
    UNPACKED=$BUILD/causal-conv1d-unpacked
    rm -rf "$UNPACKED"
    "$PY" -m wheel unpack -d "$UNPACKED" "$BUILD"/causal-conv1d-wheel/causal_conv1d-*.whl
    strip --strip-debug "$UNPACKED"/causal_conv1d-*/causal_conv1d_cuda*.so
    "$PY" -m wheel pack -d "$OUT" "$UNPACKED"/causal_conv1d-*
fi

ls -l "$OUT"
SIZE_MB=$(( $(du -cb "$OUT"/*.whl | tail -1 | cut -f1) / 1048576 ))
echo "$(ls "$OUT"/*.whl | wc -l) wheels, $SIZE_MB MiB in $OUT"
if [ "$SIZE_MB" -gt "$CARRY_LIMIT_MB" ]; then
    echo "too large: the device tool carries 64 MiB in all (working tree included); limit here $CARRY_LIMIT_MB MiB" >&2
    exit 1
fi
