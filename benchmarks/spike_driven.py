"""Figure 5: the cost of the spike-driven form (Eq 7-9), for the TI-LIF student at Table 9's firing
rates (thresholds calibrated, benchmarks.calibrate). The decode-time `spike_driven_cost` is a side of
the decode loop (benchmarks/decode.py); here:

spike_linear_vs_dense_{in,out}  at one decoded token, every block's in_proj (out_proj) in turn, each
                                with its own weights (from memory, as in a decode step) and the input
                                that block saw at that token: the spike-driven linear the projection
                                path "auto" runs (`neurons.event.event_linear_spikes`, one signed add of
                                a weight column per spike event, Eq 9) on the block's signed micro-step
                                spikes / dense `F.linear` on the same counts. The detail has the whole
                                spike-driven projection (`SpikingProjection` forward: neuron + Eq 9, auto
                                path) / the teacher's `F.linear` of the same input, the dense micro-step
                                planes (`SpikeDrivenLinear.forward_spikes`, one matmul per plane) / dense,
                                and the firing rate of that token.
spike_driven_cost_prefill       one forward of batch 1 x spike_len tokens (a prefill: many rows, so the
                                dense path) in spike-driven mode / integer mode (no target).
"""

from __future__ import annotations

import statistics

import torch
import torch.nn.functional as F

from benchmarks.harness import interleaved_times, ratios
from benchmarks.results import Result
from benchmarks.shapes import BenchShapes

LINEAR_LOOPS = 5  # passes over every block's projection per timed repetition (one pass is ~ms)


def _forward(model, ids: torch.Tensor, spike_driven: bool):
    def run() -> None:
        model.set_spike_driven(spike_driven)
        with torch.inference_mode():
            model(ids)

    return run


def firing_rate(q: torch.Tensor, D: int) -> float:
    """Spikes per neuron per micro-step: Σ|q| / (D · numel) (TI-LIF emits |q| spikes in D steps)."""
    return float(q.abs().sum() / (D * q.numel()))


def _decode_step_inputs(model, ids: torch.Tensor) -> list[tuple]:
    """(side, projection, x [1, in]) of every spiking projection at the one-token decode step that
    follows the prompt ids[:, :-1] (the recurrent step, as in generation)."""
    captured = []
    hooks = [site.module.register_forward_pre_hook(
        lambda mod, args, side=site.side: captured.append((side, mod, args[0].detach().clone())))
        for site in model.spiking_projections()]
    try:
        with torch.inference_mode():
            cache = model(ids[:, :-1], use_cache=True).cache_params
            captured.clear()  # the prefill's inputs
            model(ids[:, -1:], cache_params=cache, use_cache=True)
    finally:
        for hook in hooks:
            hook.remove()
    return captured


def _loop(calls):
    def run() -> None:
        for _ in range(LINEAR_LOOPS):
            for call in calls:
                call()

    return run


def _linear_result(side: str, sites: list[tuple], shapes: BenchShapes, device) -> Result:
    from neurons import event
    from neurons import functional as nf

    D = shapes.D
    rows = []
    for _, proj, x in sites:
        q, _ = nf.neuron_step(x, None, proj.kind, D, 0.0, proj.v_threshold)
        spikes = nf.signed_spikes(*nf.micro_step_spikes(q, proj.kind, D))  # [D, 1, in]
        rows.append((proj, x, q, spikes, proj.weight.detach()))

    def spike_driven_projection(proj, x):
        proj.spike_driven = True
        try:
            return proj(x)
        finally:
            proj.spike_driven = False

    with torch.inference_mode():
        sides = {
            "event_spikes": _loop([lambda s=s, w=w: event.event_linear_spikes(s, w) for _, _, _, s, w in rows]),
            "dense": _loop([lambda q=q, w=w: F.linear(q, w) for _, _, q, _, w in rows]),
            "projection": _loop([lambda p=p, x=x: spike_driven_projection(p, x) for p, x, *_ in rows]),
            "teacher": _loop([lambda x=x, w=w: F.linear(x, w) for _, x, _, _, w in rows]),
            "planes": _loop([lambda p=p, s=s: p.forward_spikes(s) for p, _, _, s, _ in rows]),
        }
        t = interleaved_times(sides, shapes.spike_reps, device)
    proj = rows[0][0]
    counts = torch.cat([q for _, _, q, _, _ in rows])
    per_call = len(rows) * LINEAR_LOOPS
    return Result.from_samples(
        f"spike_linear_vs_dense_{side}", ratios(t["event_spikes"], t["dense"]), "< 1",
        f"{side}_proj of all {len(rows)} blocks ({proj.in_features} -> {proj.out_features}), one decoded token, "
        f"TI-LIF D={D} at V_th {proj.v_threshold:.3f}: event_linear_spikes (Eq 9) / F.linear on the same counts",
        firing_rate=firing_rate(counts, D),
        nonzero_fraction=float(counts.count_nonzero() / counts.numel()),
        projection_vs_teacher=statistics.median(ratios(t["projection"], t["teacher"])),
        planes_vs_dense=statistics.median(ratios(t["planes"], t["dense"])),
        seconds_per_call={name: statistics.median(times) / per_call for name, times in t.items()},
    )


def spike_driven_results(student, calibration, shapes: BenchShapes, device) -> list[Result]:
    gen = torch.Generator().manual_seed(shapes.seed)
    ids = torch.randint(0, shapes.model.vocab_size, (1, shapes.spike_len), generator=gen).to(device)
    student.set_spike_driven(False)
    sites = _decode_step_inputs(student, ids)
    results = [_linear_result(side, [s for s in sites if s[0] == side], shapes, device) for side in ("in", "out")]
    for r in results:
        r.detail.update(calibration.summary())
    t = interleaved_times({"spike_driven": _forward(student, ids, True), "integer": _forward(student, ids, False)},
                          shapes.spike_reps, device)
    student.set_spike_driven(False)
    results.append(Result.from_samples(
        "spike_driven_cost_prefill", ratios(t["spike_driven"], t["integer"]), "",
        f"{shapes.model.describe()}; TI-LIF D={shapes.D}, V_th in {calibration.v_threshold['in']:.3f} / out "
        f"{calibration.v_threshold['out']:.3f}; batch 1 x {shapes.spike_len} tokens, one forward, "
        "spike-driven / integer mode", seconds={name: statistics.median(times) for name, times in t.items()}))
    return results
