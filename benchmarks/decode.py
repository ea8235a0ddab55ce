"""Figures 2 and 4 and the event-path decode figures of issue 18: greedy decoding speed at batch 1,
and how close a decode step is to the roofline. One interleaved loop holds every side.

decode_speedup_vs_transformers   tokens/s of SpikingMamba (neuron "none") / transformers'
                                 Mamba2ForCausalLM.generate, same weights, same prompt
decode_tilif_vs_none             tokens/s of the integer-mode TI-LIF student (V_th = 1) / the "none" model
decode_roofline_fraction         weight bytes one decode step must read
                                 / (seconds per decoded token x copy bandwidth measured alongside)
decode_event_vs_teacher          tokens/s of the TI-LIF student at Table 9's firing rates (V_th
                                 calibrated, benchmarks.calibrate; projection path "auto", i.e. the
                                 event path at one token) / the neuron-free teacher ("none")
decode_event_vs_transformers     the same student / transformers' Mamba2ForCausalLM.generate
decode_event_bytes_fraction      (weight bytes the event step reads, measured by the projections'
                                 track_weight_reads, + the other parameters + the recurrent state)
                                 / (the student's seconds per decoded token x copy bandwidth)
spike_driven_cost                seconds per decoded token of that student in spike-driven mode (Eq 9:
                                 one signed add per spike event) / in integer mode, both on "auto"
decode_event_vs_llamacpp         the student's decoded tokens/s (prefill subtracted) / llama.cpp's
                                 llama-bench decode of the same weights as GGUF F32, same threads
                                 (benchmarks.llamacpp; skipped with the reason when there is no build)
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


def _distinct_parameters(model: torch.nn.Module) -> dict[int, int]:
    """data_ptr -> bytes of every distinct parameter (a tied weight once)."""
    return {p.data_ptr(): p.numel() * p.element_size() for p in model.parameters()}


def weight_bytes(model: torch.nn.Module) -> int:
    """Bytes of the distinct parameters a decode step reads: every tensor once (tied lm_head once).

    The embedding is counted whole because with tied weights it *is* the lm_head, which the greedy
    step reads completely to score the vocabulary.
    """
    return sum(_distinct_parameters(model).values())


def event_step_bytes(model, prompt: torch.Tensor, new_tokens: int) -> dict:
    """Bytes one decode step of a spiking `model` must read: the spiking projections' weight columns
    that the event path read (``track_weight_reads``, over a decode of new_tokens minus one of 1 token,
    so the prefill cancels, / (new_tokens − 1)), every other parameter whole (biases, conv, norms, the
    tied embedding / LM head) and the recurrent state once (`Mamba2Cache.nbytes`). A projection call
    that took the dense path reads its whole weight but is not counted: the total is then a lower bound."""
    from models.cache import Mamba2Cache

    sites = model.spiking_projections()
    totals = []
    try:
        for site in sites:
            site.module.track_weight_reads = True
        for n in (1, new_tokens):
            for site in sites:
                site.module.reset_counts()
            greedy(model, prompt, n)()
            totals.append(sum(site.module.weight_bytes_read for site in sites))
    finally:
        for site in sites:
            site.module.track_weight_reads = False
            site.module.reset_counts()
    spiking = {site.module.weight.data_ptr() for site in sites}
    projections = (totals[1] - totals[0]) / (new_tokens - 1)
    dense_weights = sum(site.module.weight.numel() * site.module.weight.element_size() for site in sites)
    other = sum(nbytes for ptr, nbytes in _distinct_parameters(model).items() if ptr not in spiking)
    state = Mamba2Cache(model.config, 1, dtype=model.dtype).nbytes()
    return {"total": projections + other + state, "projection_weights_read": projections,
            "projection_weights_dense": dense_weights, "projection_read_fraction": projections / dense_weights,
            "other_parameters": other, "state": state}


def spike_driven(model, run: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
    """`run` with `model` in spike-driven mode (restored to integer mode afterwards)."""
    def call() -> torch.Tensor:
        model.set_spike_driven(True)
        try:
            return run()
        finally:
            model.set_spike_driven(False)

    return call


def per_token(full: list[float], prefill: list[float], new_tokens: int) -> list[float]:
    """Seconds per decoded token of each repetition: (t(new_tokens) − t(1)) / (new_tokens − 1)."""
    return [(f - p) / (new_tokens - 1) for f, p in zip(full, prefill, strict=True)]


def student_shape(calibration, rates: dict[str, float]) -> str:
    """The calibrated student in words, with the rates measured in this run (printed in the table)."""
    v = calibration.v_threshold
    return (f"V_th in {v['in']:.3f} / out {v['out']:.3f}, measured fr_in {rates['in']:.4f} / fr_out "
            f"{rates['out']:.4f} (targets {calibration.targets['in']} / {calibration.targets['out']})")


def _decode_shape(shapes: BenchShapes, what: str) -> str:
    return (
        f"{shapes.model.describe()}; {what}; batch 1, {shapes.prompt_len}-token prompt, "
        f"{shapes.new_tokens} new tokens"
    )


def decode_results(reference, none, tilif, shapes: BenchShapes, device, event=None, calibration=None,
                   llama=None) -> list[Result]:
    """Every decode figure from one interleaved loop. Each repetition times, back to back:
    transformers, "none", TI-LIF (new_tokens each), "none" with 1 new token (the prefill, which the
    per-token times subtract: (t(new_tokens) - t(1)) / (new_tokens - 1)), a large copy (the memory
    bandwidth of that moment) and, given the calibrated student `event` (with its `calibration`), that
    student in integer and spike-driven mode (new_tokens and 1 each) and llama.cpp (`llama`: a
    benchmarks.llamacpp.LlamaBench, or the "skipped: ..." string that stands in for its figure)."""
    prompt = make_prompt(shapes, device)
    n = shapes.new_tokens
    copy = CopyBandwidth(device)
    sides = {"transformers": greedy(reference, prompt, n), "none": greedy(none, prompt, n),
             "tilif": greedy(tilif, prompt, n), "none_prefill": greedy(none, prompt, 1), "copy": copy}
    models = [reference, none, tilif]
    llama_tokens_per_s: list[float] = []
    if event is not None:
        sides |= {"event": greedy(event, prompt, n), "event_prefill": greedy(event, prompt, 1)}
        if llama is not None and not isinstance(llama, str):  # next to the student's sides: closest in time
            sides["llamacpp"] = lambda: llama_tokens_per_s.append(llama())
            llama()  # warm-up: the GGUF in the page cache
        sides |= {"spikes": spike_driven(event, greedy(event, prompt, n)),
                  "spikes_prefill": spike_driven(event, greedy(event, prompt, 1))}
        models.append(event)
    for model in models:  # warm-up: a short decode is enough (lazy init, allocator)
        greedy(model, prompt, 2)()
    copy()
    t = interleaved_times(sides, shapes.decode_reps, device, warmup=0)
    named = ("transformers", "none", "tilif") + (("event",) if event is not None else ())
    tokens_per_s = {name: n / statistics.median(t[name]) for name in named}
    none_per_token = per_token(t["none"], t["none_prefill"], n)
    bandwidth = [copy.bytes_moved / s for s in t["copy"]]
    nbytes = weight_bytes(none)
    results = [
        Result.from_samples(
            "decode_speedup_vs_transformers", ratios(t["transformers"], t["none"]), ">= 2.0",
            _decode_shape(shapes, "neuron none vs transformers Mamba2ForCausalLM"),
            tokens_per_s=tokens_per_s,
            # same weights => same greedy tokens up to float near-ties; few means the sides differ
            agreeing_new_tokens=agreeing_prefix(sides["none"](), sides["transformers"]()) - shapes.prompt_len,
        ),
        Result.from_samples(  # t_none / t_tilif = tokens/s of TI-LIF / tokens/s of none
            "decode_tilif_vs_none", ratios(t["none"], t["tilif"]), ">= 0.9",
            _decode_shape(shapes, f"TI-LIF D={shapes.D} integer mode, V_th 1, vs neuron none"),
            tokens_per_s=tokens_per_s,
        ),
        Result.from_samples(
            "decode_roofline_fraction", [nbytes / (s * bw) for s, bw in zip(none_per_token, bandwidth)],
            ">= 0.5", _decode_shape(shapes, "neuron none"),
            weight_bytes=nbytes,
            seconds_per_token=none_per_token,
            copy_bandwidth_bytes_per_s=bandwidth,
            weight_read_bytes_per_s=[nbytes / s for s in none_per_token],
        ),
    ]
    if event is None:
        return results
    return results + _event_results(t, sides, event, calibration, llama, llama_tokens_per_s, bandwidth,
                                    none_per_token, tokens_per_s, prompt, shapes)


def _event_results(t, sides, event, calibration, llama, llama_tokens_per_s, bandwidth, none_per_token,
                   tokens_per_s, prompt, shapes: BenchShapes) -> list[Result]:
    from benchmarks.calibrate import measured_rates

    n = shapes.new_tokens
    decoded = sides["event"]()
    rates = measured_rates(event, decoded)  # on the sequence the timed decode produced
    student = student_shape(calibration, rates)
    what = f"TI-LIF D={shapes.D}, {student}, projection path auto"
    event_per_token = per_token(t["event"], t["event_prefill"], n)
    spikes_per_token = per_token(t["spikes"], t["spikes_prefill"], n)
    step = event_step_bytes(event, prompt, n)
    common = {"firing_rates_decoded": rates, **calibration.summary()}
    results = [
        Result.from_samples(
            "decode_event_vs_teacher", ratios(t["none"], t["event"]), ">= 1.25",
            _decode_shape(shapes, f"{what} vs neuron none (the teacher)"),
            tokens_per_s=tokens_per_s, **common,
            decode_only_ratio=ratios(none_per_token, event_per_token),
            agreeing_new_tokens=agreeing_prefix(decoded, sides["none"]()) - shapes.prompt_len,
        ),
        Result.from_samples(
            "decode_event_vs_transformers", ratios(t["transformers"], t["event"]), ">= 2.5",
            _decode_shape(shapes, f"{what} vs transformers Mamba2ForCausalLM"), tokens_per_s=tokens_per_s,
            **common,
        ),
        Result.from_samples(
            "decode_event_bytes_fraction", [step["total"] / (s * bw) for s, bw in zip(event_per_token, bandwidth)],
            ">= 0.5", _decode_shape(shapes, what), step_bytes=step, seconds_per_token=event_per_token,
            copy_bandwidth_bytes_per_s=bandwidth, **common,
        ),
        Result.from_samples(
            "spike_driven_cost", ratios(spikes_per_token, event_per_token), "<= 1.05",
            _decode_shape(shapes, f"{what}: spike-driven / integer mode, seconds per decoded token"),
            seconds_per_token={"spike_driven": spikes_per_token, "integer": event_per_token},
            whole_call_ratio=ratios(t["spikes"], t["event"]), **common,
        ),
    ]
    name = "decode_event_vs_llamacpp"
    if isinstance(llama, str) or llama is None:
        results.append(Result.skipped(name, ">= 1.0", llama or "skipped: no llama.cpp bench given"))
    else:
        event_tokens_per_s = [1 / s for s in event_per_token]
        results.append(Result.from_samples(
            name, [e / l for e, l in zip(event_tokens_per_s, llama_tokens_per_s, strict=True)], ">= 1.0",
            f"{shapes.model.describe()}; {what}, decoded tokens/s (prefill subtracted) vs llama.cpp "
            f"llama-bench -p 0 -n {llama.n_gen} -t {llama.threads}, GGUF F32 of the same weights",
            tokens_per_s={"event_decode": event_tokens_per_s, "llamacpp": llama_tokens_per_s},
            llamacpp=llama.detail | {"command": " ".join(llama.command(1))}, **common))
    return results


def event_vs_teacher_result(name: str, none, event, calibration, shapes: BenchShapes, device, note: str) -> Result:
    """`decode_event_vs_teacher` alone (teacher and calibrated student, interleaved): the 1.3B figure."""
    from benchmarks.calibrate import measured_rates

    prompt = make_prompt(shapes, device)
    n = shapes.new_tokens
    sides = {"none": greedy(none, prompt, n), "event": greedy(event, prompt, n),
             "none_prefill": greedy(none, prompt, 1), "event_prefill": greedy(event, prompt, 1)}
    for model in (none, event):
        greedy(model, prompt, 2)()
    t = interleaved_times(sides, shapes.decode_reps, device, warmup=0)
    decoded = sides["event"]()
    rates = measured_rates(event, decoded)
    return Result.from_samples(
        name, ratios(t["none"], t["event"]), "",
        _decode_shape(shapes, f"TI-LIF D={shapes.D}, {student_shape(calibration, rates)}, projection path auto "
                      f"vs neuron none{note}"),
        tokens_per_s={side: n / statistics.median(t[side]) for side in ("none", "event")},
        decode_only_ratio=ratios(per_token(t["none"], t["none_prefill"], n),
                                 per_token(t["event"], t["event_prefill"], n)),
        firing_rates_decoded=rates, **calibration.summary())
