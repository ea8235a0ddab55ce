"""`python -m benchmarks [--quick] [--only GROUP ...]`: run the benchmarks, print a markdown table,
write benchmarks/results.json.

Groups (each loads the models it needs from one shared random transformers-format checkpoint, then
frees them): train (figure 1), decode (figures 2 and 4), memory (figure 3), spike (figure 5).
benchmarks/README.md describes every figure, its shape and how it is measured.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

import torch
from tqdm import tqdm

from benchmarks import decode, memory, spike_driven, train_step
from benchmarks.checkpoints import load_spiking, load_transformers, save_reference
from benchmarks.harness import pick_device
from benchmarks.results import Result, markdown_table, write_json
from benchmarks.shapes import PRESETS, BenchShapes

# the full run's table is the one kept in the repository; a --quick run does not overwrite it
DEFAULT_OUT = {"full": Path(__file__).with_name("results.json"),
               "quick": Path(__file__).with_name("results_quick.json")}


def run_train(directory: Path, shapes: BenchShapes, device: torch.device) -> list[Result]:
    teacher = load_spiking(directory, device, neuron="none")
    student = load_spiking(directory, device, neuron="tilif", D=shapes.D)  # SGC: first, middle, last
    if len(student.config.sgc_layers) != shapes.sgc_layers:
        raise RuntimeError(f"the default student has SGC on layers {student.config.sgc_layers}, "
                           f"expected {shapes.sgc_layers} layers")
    plain = load_spiking(directory, device, neuron="tilif", D=shapes.D, sgc_layers=[])
    return train_step.train_results(teacher, student, plain, shapes, device)


def run_decode(directory: Path, shapes: BenchShapes, device: torch.device) -> list[Result]:
    reference = load_transformers(directory, device)
    none = load_spiking(directory, device, neuron="none")
    tilif = load_spiking(directory, device, neuron="tilif", D=shapes.D, sgc_layers=[])
    return decode.decode_results(reference, none, tilif, shapes, device)


def run_memory(directory: Path, shapes: BenchShapes, device: torch.device) -> list[Result]:
    return [memory.memory_growth(directory, shapes, device)]


def run_spike(directory: Path, shapes: BenchShapes, device: torch.device) -> list[Result]:
    student = load_spiking(directory, device, neuron="tilif", D=shapes.D, sgc_layers=[])
    return spike_driven.spike_driven_results(student, shapes, device)


GROUPS = {"train": run_train, "decode": run_decode, "memory": run_memory, "spike": run_spike}


def run(shapes: BenchShapes, groups: list[str], device: torch.device) -> list[Result]:
    """Run `groups` at `shapes` on one fresh random checkpoint; returns the results in order."""
    import transformers

    transformers.utils.logging.set_verbosity_error()  # the CPU-fallback notices, once per process
    transformers.utils.logging.disable_progress_bar()
    results = []
    with tempfile.TemporaryDirectory(prefix="spikingmamba-bench-") as tmp:
        save_reference(shapes.model, Path(tmp), shapes.seed)
        for group in (bar := tqdm(groups, desc="benchmarks", unit="group", file=sys.stderr)):
            bar.set_postfix_str(group)
            start = time.perf_counter()
            for result in GROUPS[group](Path(tmp), shapes, device):
                result.detail.update(device=str(device), torch_threads=torch.get_num_threads())
                results.append(result)
            tqdm.write(f"{group}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
            gc.collect()
    return results


def main(argv: list[str] | None = None) -> list[Result]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small shapes, ~2 minutes (smoke run)")
    parser.add_argument("--only", nargs="+", choices=list(GROUPS), default=list(GROUPS),
                        help="run only these groups")
    parser.add_argument("--out", type=Path, help="results JSON (default benchmarks/results.json, "
                        "with --quick benchmarks/results_quick.json)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:1 ...")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice, one per "
                        "core); on a CPU shared with other jobs, 1 avoids stalls at thread barriers")
    args = parser.parse_args(argv)

    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    preset = "quick" if args.quick else "full"
    out = args.out or DEFAULT_OUT[preset]
    results = run(PRESETS[preset], args.only, pick_device(args.device))
    print(markdown_table(results))
    write_json(results, out)
    print(f"\nwrote {out}", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
