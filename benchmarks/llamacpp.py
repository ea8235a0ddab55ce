"""llama.cpp's dense F32 decode of the benchmarks' random Mamba2 weights: the anchor of
`decode_event_vs_llamacpp` (issue 18). llama.cpp is not part of this repository; benchmarks/README.md
("llama.cpp anchor") says how to build it.

`prepare(checkpoint, workdir)` converts a transformers-format Mamba2 checkpoint (the one
benchmarks.checkpoints.save_reference writes, so both sides hold the same weights) to GGUF F32 with
llama.cpp's own convert_hf_to_gguf.py and returns a `LlamaBench`, or a "skipped: <reason>" string
when no build is available. Calling the `LlamaBench` runs
`llama-bench -m X.gguf -p 0 -n 128 -t 1 -r 1 -o json` once and returns the tokens/s llama-bench
measured (its own timer: decode only, no model load), so it can be one side of an interleaved loop;
`measure()` runs `-r N` and returns every sample.

Where the build is: `llamacpp` argument or $SPIKINGMAMBA_LLAMACPP (the llama.cpp source tree, with
convert_hf_to_gguf.py and gguf-py/), and `llama_bench` argument or $SPIKINGMAMBA_LLAMA_BENCH (the
binary; default <tree>/build/bin/llama-bench).

`python -m benchmarks.llamacpp [--llamacpp TREE] [--llama-bench BIN] [--checkpoint DIR]` measures
the mamba2-130m shape (a fresh random checkpoint, seed 0, unless --checkpoint) and prints tokens/s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ENV_TREE, ENV_BENCH = "SPIKINGMAMBA_LLAMACPP", "SPIKINGMAMBA_LLAMA_BENCH"


@dataclass
class LlamaBench:
    """One converted model and the llama-bench that decodes it."""

    binary: Path
    gguf: Path
    threads: int = 1
    n_gen: int = 128
    detail: dict = field(default_factory=dict)

    def command(self, repetitions: int) -> list[str]:
        return [str(self.binary), "-m", str(self.gguf), "-p", "0", "-n", str(self.n_gen), "-t", str(self.threads),
                "-r", str(repetitions), "-o", "json"]

    def measure(self, repetitions: int) -> list[float]:
        """tokens/s of each of `repetitions` decodes of n_gen tokens (llama-bench's samples_ts)."""
        run = subprocess.run(self.command(repetitions), capture_output=True, text=True, check=True)
        (test,) = json.loads(run.stdout)
        self.detail.update(build_commit=test.get("build_commit"), build_number=test.get("build_number"),
                           cpu_info=test.get("cpu_info"), model_type=test.get("model_type"),
                           model_size=test.get("model_size"))
        return [float(ts) for ts in test["samples_ts"]]

    def __call__(self) -> float:
        return self.measure(1)[0]


def locate(llamacpp: str | Path | None = None, llama_bench: str | Path | None = None) -> tuple[Path, Path] | str:
    """(source tree, llama-bench binary), or "skipped: <reason>"."""
    tree = llamacpp or os.environ.get(ENV_TREE)
    if not tree:
        return (f"skipped: no llama.cpp build (set ${ENV_TREE} to a llama.cpp source tree built with cmake; "
                "benchmarks/README.md, 'llama.cpp anchor')")
    tree = Path(tree)
    if not (tree / "convert_hf_to_gguf.py").is_file() or not (tree / "gguf-py").is_dir():
        return f"skipped: {tree} is not a llama.cpp source tree (no convert_hf_to_gguf.py and gguf-py/)"
    binary = Path(llama_bench or os.environ.get(ENV_BENCH) or tree / "build" / "bin" / "llama-bench")
    if not os.access(binary, os.X_OK):
        return f"skipped: no llama-bench executable at {binary} (build it, or set ${ENV_BENCH})"
    return tree, binary


def convert(checkpoint: Path, tree: Path, gguf: Path) -> None:
    """transformers-format Mamba2 checkpoint -> GGUF F32, with the tree's own converter and gguf-py."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree / "gguf-py"), os.environ.get("PYTHONPATH", "")]))
    subprocess.run([sys.executable, str(tree / "convert_hf_to_gguf.py"), str(checkpoint), "--outtype", "f32",
                    "--outfile", str(gguf)], env=env, capture_output=True, text=True, check=True)


def prepare(checkpoint: Path, workdir: Path, llamacpp=None, llama_bench=None, threads: int = 1,
            n_gen: int = 128) -> LlamaBench | str:
    """Convert `checkpoint` into `workdir` and return its LlamaBench, or "skipped: <reason>"."""
    found = locate(llamacpp, llama_bench)
    if isinstance(found, str):
        return found
    tree, binary = found
    gguf = Path(workdir) / "model-f32.gguf"
    try:
        convert(Path(checkpoint), tree, gguf)
    except subprocess.CalledProcessError as error:
        return f"skipped: convert_hf_to_gguf.py failed: {error.stderr.strip()[-300:]}"
    return LlamaBench(binary, gguf, threads, n_gen, {"source_tree": str(tree)})


def main(argv: list[str] | None = None) -> float | str:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.llamacpp", description=__doc__.split("\n\n")[0])
    parser.add_argument("--llamacpp", help=f"llama.cpp source tree (default ${ENV_TREE})")
    parser.add_argument("--llama-bench", help=f"llama-bench binary (default ${ENV_BENCH} or TREE/build/bin)")
    parser.add_argument("--checkpoint", type=Path, help="transformers Mamba2 checkpoint (default: random 130m)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n-gen", type=int, default=128)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="spikingmamba-llamacpp-") as tmp:
        checkpoint = args.checkpoint
        if checkpoint is None and not isinstance(locate(args.llamacpp, args.llama_bench), str):
            from benchmarks.checkpoints import save_reference
            from benchmarks.shapes import MAMBA2_130M

            checkpoint = save_reference(MAMBA2_130M, Path(tmp) / "checkpoint", seed=0)
        bench = prepare(checkpoint, Path(tmp), args.llamacpp, args.llama_bench, args.threads, args.n_gen)
        if isinstance(bench, str):
            print(bench)
            return bench
        samples = bench.measure(args.reps)
    median = statistics.median(samples)
    print(f"llama.cpp decode: {median:.2f} tokens/s (median of {len(samples)}: {min(samples):.2f}-{max(samples):.2f}), "
          f"{args.threads} thread(s), {args.n_gen} tokens, F32; {' '.join(bench.command(args.reps))}")
    print(json.dumps(bench.detail))
    return median


if __name__ == "__main__":
    main()
