"""Figures 2 and 4: greedy decoding speed at batch 1, and how close a decode step is to the roofline.

decode_speedup_vs_transformers   tokens/s of SpikingMamba (neuron "none") / transformers'
                                 Mamba2ForCausalLM.generate, same weights, same prompt
decode_tilif_vs_none             tokens/s of the integer-mode TI-LIF student / the "none" model
decode_roofline_fraction         weight bytes one decode step must read
                                 / (seconds per decoded token x copy bandwidth measured alongside)
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import torch

from benchmarks.harness import CopyBandwidth, interleaved_times, ratios
from benchmarks.results import Result
from benchmarks.shapes import BenchShapes


def greedy(model, prompt: torch.Tensor, new_tokens: int) -> Callable[[], torch.Tensor]:
    """A call that greedily decodes exactly `new_tokens` after `prompt` ([1, L]) and checks it did."""
    expected = (prompt.shape[0], prompt.shape[1] + new_tokens)

    def run() -> torch.Tensor:
        with torch.inference_mode():
            out = model.generate(prompt, max_new_tokens=new_tokens, do_sample=False)
        if tuple(out.shape) != expected:
            raise RuntimeError(
                f"{type(model).__name__}.generate returned shape {tuple(out.shape)}, expected "
                f"{expected}: it must decode exactly max_new_tokens greedy tokens"
            )
        return out

    return run


def make_prompt(shapes: BenchShapes, device: torch.device) -> torch.Tensor:
    """A fixed random prompt [1, prompt_len]."""
    gen = torch.Generator().manual_seed(shapes.seed)
    return torch.randint(0, shapes.model.vocab_size, (1, shapes.prompt_len), generator=gen).to(device)


def agreeing_prefix(a: torch.Tensor, b: torch.Tensor) -> int:
    """Number of leading positions where two [1, L] token sequences agree."""
    differ = (a != b).flatten().nonzero()
    return a.numel() if differ.numel() == 0 else int(differ[0])


def weight_bytes(model: torch.nn.Module) -> int:
    """Bytes of the distinct parameters a decode step reads: every tensor once (tied lm_head once).

    The embedding is counted whole because with tied weights it *is* the lm_head, which the greedy
    step reads completely to score the vocabulary.
    """
    distinct = {p.data_ptr(): p.numel() * p.element_size() for p in model.parameters()}
    return sum(distinct.values())


def _decode_shape(shapes: BenchShapes, what: str) -> str:
    return (
        f"{shapes.model.describe()}; {what}; batch 1, {shapes.prompt_len}-token prompt, "
        f"{shapes.new_tokens} new tokens"
    )


def decode_results(reference, none, tilif, shapes: BenchShapes, device) -> list[Result]:
    """Figures 2 and 4 from one interleaved loop. Each repetition times, back to back: transformers,
    "none", TI-LIF (new_tokens each), "none" with 1 new token (the prefill, which the roofline's
    seconds per token subtract: (t(new_tokens) - t(1)) / (new_tokens - 1)) and a large copy (the
    memory bandwidth of that moment)."""
    prompt = make_prompt(shapes, device)
    n = shapes.new_tokens
    copy = CopyBandwidth(device)
    sides = {"transformers": greedy(reference, prompt, n), "none": greedy(none, prompt, n),
             "tilif": greedy(tilif, prompt, n), "none_prefill": greedy(none, prompt, 1), "copy": copy}
    for model in (reference, none, tilif):  # warm-up: a short decode is enough (lazy init, allocator)
        greedy(model, prompt, 2)()
    copy()
    t = interleaved_times(sides, shapes.decode_reps, device, warmup=0)
    tokens_per_s = {name: n / statistics.median(t[name]) for name in ("transformers", "none", "tilif")}
    per_token = [(full - prefill) / (n - 1) for full, prefill in zip(t["none"], t["none_prefill"])]
    bandwidth = [copy.bytes_moved / s for s in t["copy"]]
    nbytes = weight_bytes(none)
    return [
        Result.from_samples(
            "decode_speedup_vs_transformers", ratios(t["transformers"], t["none"]), ">= 2.0",
            _decode_shape(shapes, "neuron none vs transformers Mamba2ForCausalLM"),
            tokens_per_s=tokens_per_s,
            # same weights => same greedy tokens up to float near-ties; few means the sides differ
            agreeing_new_tokens=agreeing_prefix(sides["none"](), sides["transformers"]()) - shapes.prompt_len,
        ),
        Result.from_samples(  # t_none / t_tilif = tokens/s of TI-LIF / tokens/s of none
            "decode_tilif_vs_none", ratios(t["none"], t["tilif"]), ">= 0.9",
            _decode_shape(shapes, f"TI-LIF D={shapes.D} integer mode vs neuron none"),
            tokens_per_s=tokens_per_s,
        ),
        Result.from_samples(
            "decode_roofline_fraction", [nbytes / (s * bw) for s, bw in zip(per_token, bandwidth)],
            ">= 0.5", _decode_shape(shapes, "neuron none"),
            weight_bytes=nbytes,
            seconds_per_token=per_token,
            copy_bandwidth_bytes_per_s=bandwidth,
            weight_read_bytes_per_s=[nbytes / s for s in per_token],
        ),
    ]
