"""Figure 3: does decoding memory stay constant? Peak memory of a long decode / a short decode.

Each length runs in a fresh subprocess (`python -m benchmarks.memory ...`; the two run at the same
time), so nothing the parent process allocated (other models, the allocator's free lists) is
counted. In the subprocess:

1. load the model and decode a few tokens (lazy buffers, allocator warm-up),
2. reset the peak counter and read the baseline,
3. greedily decode `new_tokens` tokens, then read the peak.

CPU: peak = the kernel's resident-set high-water mark `VmHWM` of /proc/self/status, reset in step 2
by writing "5" to /proc/self/clear_refs (Linux only); baseline = `VmRSS`.
CUDA: `torch.cuda.reset_peak_memory_stats`, baseline `memory_allocated`, peak `max_memory_allocated`.

The figure is the peak of the long run / the peak of the short run. The model's weights are part
of both peaks (a constant), so the detail also gives the growth in bytes, (peak_long - peak_short)
/ (long - short) per extra token: a KV cache at the 130m shape would add ~150 kB per token, a
retained logits row 4 bytes x vocab. (Peak minus baseline alone is not used as the figure: on CPU it
is a few pages, often 0, because the warm-up decode already sized the allocator's pools.)
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
from pathlib import Path

import torch

from benchmarks.results import Result
from benchmarks.shapes import BenchShapes

WARMUP_TOKENS = 8


def _proc_status_bytes(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024  # reported in kB
    raise RuntimeError(f"/proc/self/status has no {key} line")


def _reset_peak(device: torch.device) -> int:
    """Reset the peak counter; return the current (baseline) bytes."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
    except OSError as err:
        raise RuntimeError(
            "decode_memory_growth on CPU needs Linux's /proc/self/clear_refs to reset the peak RSS "
            f"({err}); run it on Linux or on a CUDA device"
        ) from err
    return _proc_status_bytes("VmRSS")


def _peak(device: torch.device) -> int:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device)
    return _proc_status_bytes("VmHWM")


def measure_in_this_process(directory: Path, side: str, prompt_len: int, new_tokens: int,
                            device: torch.device, seed: int) -> dict:
    """Steps 1-3 of the module docstring; returns {"baseline": bytes, "peak": bytes}."""
    from benchmarks.checkpoints import load_spiking, load_transformers
    from benchmarks.decode import greedy

    if side == "spikingmamba":
        model = load_spiking(directory, device, neuron="none")
    elif side == "transformers":
        model = load_transformers(directory, device)
    else:
        raise ValueError(f"side must be 'spikingmamba' or 'transformers', got {side!r}")
    vocab = model.get_input_embeddings().num_embeddings
    gen = torch.Generator().manual_seed(seed)
    prompt = torch.randint(0, vocab, (1, prompt_len), generator=gen).to(device)
    greedy(model, prompt, WARMUP_TOKENS)()
    baseline = _reset_peak(device)
    greedy(model, prompt, new_tokens)()
    return {"baseline": baseline, "peak": _peak(device)}


def measure_in_subprocesses(directory: Path, side: str, prompt_len: int, token_counts: list[int],
                            device: torch.device, seed: int) -> dict[int, dict]:
    """One fresh worker process per entry of `token_counts`, run concurrently (a peak is a peak
    however slowly it is reached); returns {new_tokens: {"baseline": bytes, "peak": bytes}}."""
    procs = {}
    for n in token_counts:
        cmd = [sys.executable, "-m", "benchmarks.memory", str(directory), "--side", side,
               "--prompt-len", str(prompt_len), "--new-tokens", str(n), "--device", str(device),
               "--seed", str(seed), "--threads", str(torch.get_num_threads())]
        procs[n] = (cmd, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = {}
    for n, (cmd, proc) in procs.items():
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"memory worker failed ({' '.join(cmd)}):\n{err[-4000:]}")
        results[n] = json.loads(out.strip().splitlines()[-1])
    return results


def memory_growth(directory: Path, shapes: BenchShapes, device: torch.device,
                  side: str = "spikingmamba") -> Result:
    runs = measure_in_subprocesses(directory, side, shapes.prompt_len,
                                   [shapes.memory_short, shapes.memory_long], device, shapes.seed)
    short, long = runs[shapes.memory_short], runs[shapes.memory_long]
    what = "RSS high-water mark" if device.type == "cpu" else "CUDA max_memory_allocated"
    return Result.from_samples(
        "decode_memory_growth",
        [long["peak"] / short["peak"]],
        "<= 1.05",
        f"{shapes.model.describe()}; {side} neuron none; batch 1, {shapes.prompt_len}-token prompt; "
        f"peak {what} while decoding {shapes.memory_long} / {shapes.memory_short} new tokens",
        short=short,
        long=long,
        growth_bytes_per_extra_token=(long["peak"] - short["peak"])
        / (shapes.memory_long - shapes.memory_short),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="memory worker: one greedy decode in this process, prints its peak memory as JSON "
        "(--side transformers measures transformers' Mamba2ForCausalLM on the same checkpoint)")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--side", default="spikingmamba", choices=["spikingmamba", "transformers"])
    parser.add_argument("--prompt-len", type=int, required=True)
    parser.add_argument("--new-tokens", type=int, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = measure_in_this_process(args.directory, args.side, args.prompt_len, args.new_tokens,
                                     torch.device(args.device), args.seed)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
