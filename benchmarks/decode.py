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

from benchmarks.harness import CopyBandwidth, interleaved_ratio, time_once
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


def speedup_vs_transformers(ours, reference, shapes: BenchShapes, device) -> Result:
    prompt = make_prompt(shapes, device)
    n = shapes.new_tokens
    ours_run, ref_run = greedy(ours, prompt, n), greedy(reference, prompt, n)
    ratio = interleaved_ratio(ref_run, ours_run, shapes.decode_reps, device)  # t_ref / t_ours
    return Result.from_samples(
        "decode_speedup_vs_transformers",
        ratio.values,
        ">= 2.0",
        _decode_shape(shapes, "neuron none vs transformers Mamba2ForCausalLM"),
        ours_tokens_per_s=n / statistics.median(ratio.times_b),
        transformers_tokens_per_s=n / statistics.median(ratio.times_a),
        # same weights => same greedy tokens (up to float near-ties); a low count means the sides differ
        agreeing_new_tokens=agreeing_prefix(ours_run(), ref_run()) - shapes.prompt_len,
    )


def tilif_vs_none(tilif, none, shapes: BenchShapes, device) -> Result:
    prompt = make_prompt(shapes, device)
    n = shapes.new_tokens
    ratio = interleaved_ratio(greedy(none, prompt, n), greedy(tilif, prompt, n), shapes.decode_reps, device)
    return Result.from_samples(  # t_none / t_tilif = tokens/s of TI-LIF / tokens/s of none
        "decode_tilif_vs_none",
        ratio.values,
        ">= 0.9",
        _decode_shape(shapes, f"TI-LIF D={shapes.D} integer mode vs neuron none"),
        tilif_tokens_per_s=n / statistics.median(ratio.times_b),
        none_tokens_per_s=n / statistics.median(ratio.times_a),
    )


def roofline_fraction(model, shapes: BenchShapes, device) -> Result:
    """Seconds per decoded token = (t(new_tokens) - t(1 new token)) / (new_tokens - 1): the prefill
    cancels. Each repetition measures the copy bandwidth right before its two decodes."""
    prompt = make_prompt(shapes, device)
    n = shapes.new_tokens
    long_run, short_run = greedy(model, prompt, n), greedy(model, prompt, 1)
    copy = CopyBandwidth(device)
    nbytes = weight_bytes(model)
    long_run(), short_run()  # warm-up
    per_token, bandwidths = [], []
    for _ in range(shapes.decode_reps):
        bandwidths.append(copy.measure())
        per_token.append((time_once(long_run, device) - time_once(short_run, device)) / (n - 1))
    return Result.from_samples(
        "decode_roofline_fraction",
        [nbytes / (step * bw) for step, bw in zip(per_token, bandwidths)],
        ">= 0.5",
        _decode_shape(shapes, "neuron none"),
        weight_bytes=nbytes,
        seconds_per_token=per_token,
        copy_bandwidth_bytes_per_s=bandwidths,
    )
