"""Figure 5: the cost of the spike-driven path (no targets: measured, for the record).

spike_driven_cost              one forward of the TI-LIF student in spike-driven mode (neurons emit
                               signed binary micro-step spikes, projections `forward_spikes`, Eq 7-9)
                               / the same forward in integer mode (Eq 4-5)
spike_linear_vs_dense_{in,out} `SpikeDrivenLinear.forward_spikes` on the spikes the model actually
                               emits before in_proj / out_proj of its middle block / the dense
                               `F.linear` of integer mode on the same counts. The firing rates
                               (spikes per neuron per micro-step) are measured in the same forward.
                               The detail also times `accumulate_events` (Eq 9 as an event list:
                               one column add per spike), whose cost scales with the firing rate.
"""

from __future__ import annotations

import statistics

import torch
import torch.nn.functional as F

from benchmarks.harness import interleaved_times, ratios
from benchmarks.results import Result
from benchmarks.shapes import BenchShapes

LINEAR_CALLS = 10  # calls per timed repetition of one linear (a single call is ~ms)


def _forward(model, ids: torch.Tensor, spike_driven: bool):
    def run() -> None:
        model.set_spike_driven(spike_driven)
        with torch.inference_mode():
            model(ids)

    return run


def _capture_neuron_outputs(model, ids: torch.Tensor) -> dict[str, list[torch.Tensor]]:
    """Integer-mode outputs q [1, L, d] of every spiking projection's neuron, per side, in layer order."""
    captured: dict[str, list[torch.Tensor]] = {"in": [], "out": []}
    hooks = []
    for site in model.spiking_projections():
        hooks.append(site.module.neuron.register_forward_hook(
            lambda mod, args, out, side=site.side: captured[side].append(out.detach().clone())))
    model.set_spike_driven(False)
    try:
        with torch.inference_mode():
            model(ids)
    finally:
        for hook in hooks:
            hook.remove()
    return captured


def firing_rate(q: torch.Tensor, D: int) -> float:
    """Spikes per neuron per micro-step: Σ|q| / (D · numel) (TI-LIF emits |q| spikes in D steps)."""
    return float(q.abs().sum() / (D * q.numel()))


def _repeat(fn, times: int):
    def run() -> None:
        for _ in range(times):
            fn()

    return run


def _linear_result(side: str, proj, q: torch.Tensor, rates: list[float], shapes: BenchShapes, device) -> Result:
    from neurons import functional as nf
    from neurons.linear import accumulate_events

    weight = proj.weight.detach()
    with torch.inference_mode():
        spikes = nf.signed_spikes(*nf.micro_step_spikes(q, "tilif", shapes.D))  # [D, 1, L, d_in]
        dense = _repeat(lambda: F.linear(q, weight), LINEAR_CALLS)
        spiking = _repeat(lambda: proj.forward_spikes(spikes), LINEAR_CALLS)
        events = _repeat(lambda: accumulate_events(weight, spikes), LINEAR_CALLS)
        t = interleaved_times({"spikes": spiking, "dense": dense, "events": events}, shapes.spike_reps, device)
    middle = len(rates) // 2
    return Result.from_samples(
        f"spike_linear_vs_dense_{side}",
        ratios(t["spikes"], t["dense"]),
        "",
        f"{side}_proj of block {middle} ({proj.in_features} -> {proj.out_features}), batch 1 x "
        f"{q.shape[1]} tokens, TI-LIF D={shapes.D} spikes from the model, forward_spikes / F.linear",
        firing_rate=rates[middle],
        firing_rate_all_blocks_mean=statistics.mean(rates),
        nonzero_fraction=float(q.count_nonzero() / q.numel()),
        seconds_per_call={name: statistics.median(times) / LINEAR_CALLS for name, times in t.items()},
        accumulate_events_vs_dense=statistics.median(ratios(t["events"], t["dense"])),
    )


def spike_driven_results(student, shapes: BenchShapes, device) -> list[Result]:
    gen = torch.Generator().manual_seed(shapes.seed)
    ids = torch.randint(0, shapes.model.vocab_size, (1, shapes.spike_len), generator=gen).to(device)
    t = interleaved_times({"spike_driven": _forward(student, ids, True), "integer": _forward(student, ids, False)},
                          shapes.spike_reps, device)
    captured = _capture_neuron_outputs(student, ids)
    results = [Result.from_samples(
        "spike_driven_cost",
        ratios(t["spike_driven"], t["integer"]),
        "",
        f"{shapes.model.describe()}; TI-LIF D={shapes.D}; batch 1 x {shapes.spike_len} tokens, "
        "one forward, spike-driven / integer mode",
        seconds={name: statistics.median(times) for name, times in t.items()},
    )]
    middle = student.config.n_layer // 2
    for site in student.spiking_projections():
        if site.layer == middle:
            rates = [firing_rate(q, shapes.D) for q in captured[site.side]]
            results.append(_linear_result(site.side, site.module, captured[site.side][middle], rates, shapes, device))
    return results
