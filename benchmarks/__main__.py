"""`python -m benchmarks [--quick] [--only GROUP ...]`: run the benchmarks, print a markdown table,
write benchmarks/results.json.

Groups (each loads the models it needs from one shared random transformers-format checkpoint, then
frees them): train (figure 1), decode (figures 2 and 4, and the event-path decode figures of issue 18),
memory (figure 3), spike (figure 5), decode_1b3 (the event student against its teacher at the
mamba2-1.3b shape, its own checkpoint). The TI-LIF students of the decode and spike groups run at
Table 9's firing rates: their thresholds are calibrated once per checkpoint (benchmarks.calibrate).
benchmarks/README.md describes every figure, its shape and how it is measured.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import sys
import tempfile
import time
from pathlib import Path

import torch
from tqdm import tqdm

from benchmarks import decode, llamacpp, memory, spike_driven, train_step
from benchmarks.calibrate import Calibration, calibrate, set_thresholds
from benchmarks.checkpoints import load_spiking, load_transformers, save_reference
from benchmarks.harness import pick_device
from benchmarks.results import Result, markdown_table, write_json
from benchmarks.shapes import LARGE_PRESETS, PRESETS, BenchShapes

# the full run's table is the one kept in the repository; a --quick run does not overwrite it
DEFAULT_OUT = {"full": Path(__file__).with_name("results.json"),
               "quick": Path(__file__).with_name("results_quick.json")}


@dataclasses.dataclass
class Checkpoint:
    """A random checkpoint directory, its shapes, the device, and (found on first use) the thresholds
    that give its TI-LIF student Table 9's firing rates on the decode prompt."""

    directory: Path
    shapes: BenchShapes
    device: torch.device
    calibration: Calibration | None = None

    def calibrated_student(self):
        """The integer-mode TI-LIF student (no SGC: inference) at the calibrated thresholds, and them."""
        student = load_spiking(self.directory, self.device, neuron="tilif", D=self.shapes.D, sgc_layers=[])
        if self.calibration is None:
            self.calibration = calibrate(student, decode.make_prompt(self.shapes, self.device))
        else:
            set_thresholds(student, self.calibration.v_threshold)
        return student, self.calibration


@dataclasses.dataclass
class Context:
    """What a group gets: the shared checkpoint, a scratch folder, and decode_1b3's shapes and layers."""

    checkpoint: Checkpoint
    workdir: Path
    large: BenchShapes
    layers_1b3: int | None = None


def run_train(ctx: Context) -> list[Result]:
    ckpt = ctx.checkpoint
    directory, shapes, device = ckpt.directory, ckpt.shapes, ckpt.device
    teacher = load_spiking(directory, device, neuron="none")
    student = load_spiking(directory, device, neuron="tilif", D=shapes.D)  # SGC: first, middle, last
    if len(student.config.sgc_layers) != shapes.sgc_layers:
        raise RuntimeError(f"the default student has SGC on layers {student.config.sgc_layers}, "
                           f"expected {shapes.sgc_layers} layers")
    plain = load_spiking(directory, device, neuron="tilif", D=shapes.D, sgc_layers=[])
    return train_step.train_results(teacher, student, plain, shapes, device)


def run_decode(ctx: Context) -> list[Result]:
    ckpt = ctx.checkpoint
    directory, shapes, device = ckpt.directory, ckpt.shapes, ckpt.device
    reference = load_transformers(directory, device)
    none = load_spiking(directory, device, neuron="none")
    tilif = load_spiking(directory, device, neuron="tilif", D=shapes.D, sgc_layers=[])
    event, calibration = ckpt.calibrated_student()
    # llama.cpp is CPU only: on CUDA its figure is not this comparison
    llama = (llamacpp.prepare(directory, ctx.workdir, threads=torch.get_num_threads()) if device.type == "cpu"
             else "skipped: llama.cpp's anchor is a CPU decode and this run is on CUDA")
    return decode.decode_results(reference, none, tilif, shapes, device, event, calibration, llama)


def run_memory(ctx: Context) -> list[Result]:
    ckpt = ctx.checkpoint
    return [memory.memory_growth(ckpt.directory, ckpt.shapes, ckpt.device)]


def run_spike(ctx: Context) -> list[Result]:
    ckpt = ctx.checkpoint
    student, calibration = ckpt.calibrated_student()
    return spike_driven.spike_driven_results(student, calibration, ckpt.shapes, ckpt.device)


def run_decode_1b3(ctx: Context) -> list[Result]:
    """decode_event_vs_teacher at the 1.3B shape on its own checkpoint (ctx.layers_1b3: keep only that
    many blocks; None: all)."""
    shapes, device, layers = ctx.large, ctx.checkpoint.device, ctx.layers_1b3
    directory = ctx.workdir / "checkpoint-1b3"
    model = shapes.model if layers is None else dataclasses.replace(shapes.model, n_layer=layers)
    note = "" if model.n_layer == shapes.model.n_layer else (
        f"; only {model.n_layer} of the shape's {shapes.model.n_layer} layers (the LM head's share of the "
        "bytes is larger than in the whole model)")
    shapes = dataclasses.replace(shapes, model=model)
    save_reference(model, directory, shapes.seed)
    ckpt = Checkpoint(directory, shapes, device)
    none = load_spiking(directory, device, neuron="none")
    event, calibration = ckpt.calibrated_student()
    return [decode.event_vs_teacher_result("decode_event_vs_teacher_1b3", none, event, calibration, shapes,
                                           device, note)]


GROUPS = {"train": run_train, "decode": run_decode, "memory": run_memory, "spike": run_spike,
          "decode_1b3": run_decode_1b3}


def run(shapes: BenchShapes, groups: list[str], device: torch.device, large: BenchShapes | None = None,
        layers_1b3: int | None = None) -> list[Result]:
    """Run `groups` at `shapes` on one fresh random checkpoint (decode_1b3: at `large`, on its own);
    returns the results in order."""
    import transformers

    transformers.utils.logging.set_verbosity_error()  # the CPU-fallback notices, once per process
    transformers.utils.logging.disable_progress_bar()
    results = []
    with tempfile.TemporaryDirectory(prefix="spikingmamba-bench-") as tmp:
        save_reference(shapes.model, Path(tmp) / "checkpoint", shapes.seed)
        ctx = Context(Checkpoint(Path(tmp) / "checkpoint", shapes, device), Path(tmp), large or shapes, layers_1b3)
        for group in (bar := tqdm(groups, desc="benchmarks", unit="group", file=sys.stderr)):
            bar.set_postfix_str(group)
            start = time.perf_counter()
            for result in GROUPS[group](ctx):
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
    parser.add_argument("--layers-1b3", type=int, help="decode_1b3: keep only the first N of the "
                        "mamba2-1.3b shape's 48 layers (memory, time); default: all")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice, one per "
                        "core); on a CPU shared with other jobs, 1 avoids stalls at thread barriers")
    args = parser.parse_args(argv)

    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    preset = "quick" if args.quick else "full"
    out = args.out or DEFAULT_OUT[preset]
    if args.layers_1b3 is not None and args.layers_1b3 < 1:
        parser.error(f"--layers-1b3 must be >= 1, got {args.layers_1b3}")
    results = run(PRESETS[preset], args.only, pick_device(args.device), LARGE_PRESETS[preset], args.layers_1b3)
    print(markdown_table(results))
    write_json(results, out)
    print(f"\nwrote {out}", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
