"""What the event-driven path really did, beside the analytic counts of the same run (issue 13, item 4).

`measure_event_counts` decodes ``input_ids`` token by token (the recurrent cache, one row per sequence per
call, as in generation) with every spiking projection on the event path (``projection_path="event"``,
`neurons.event`). Each projection counts what its kernel performed: ``ac_count`` (accumulates, Σ|q| ·
d_out, counted inside the kernel) and ``weight_bytes_read`` (the columns of the active inputs). A forward
pre-hook on the projection — which leaves the event path in place, unlike a hook on the neuron — sees the
same inputs and recomputes the spikes with the torch reference neuron (`neurons.functional.neuron_step`),
giving the per-site statistics from which `analysis.event_counts.analytic_site_counts` derives the
analytic counts of Table 12 and `analysis.memory`. The two must be equal.
"""

from __future__ import annotations

import torch

from analysis.event_counts import analytic_site_counts, compare_measured


@torch.no_grad()
def measure_event_counts(model, input_ids: torch.Tensor) -> dict:
    """``{"analytic": {module: counts}, "measured": {module: counts}, "comparison": ...}`` for a decode of
    ``input_ids`` [1, L] (batch 1: one row per call, the decode of Table 12 and `analysis.memory`; modules
    named ``….in_proj.neuron`` as in `analysis.firing_rates`)."""
    from neurons import functional as nf

    if input_ids.dim() != 2 or input_ids.shape[0] != 1:
        raise ValueError(f"input_ids must be one sequence [1, L], got shape {tuple(input_ids.shape)}")
    if model.config.T != 1:
        raise ValueError(f"the event path runs at T = 1; this model has T = {model.config.T}")
    sites = model.spiking_projections()
    stats = {site.name: {"spikes": 0, "active": 0, "active_union": 0} for site in sites}

    def recount(name, proj):
        def pre_hook(module, args):
            q, _ = nf.neuron_step(args[0], None, proj.kind, proj.neuron.D, proj.neuron.beta, proj.v_threshold)
            fires = q.reshape(-1, proj.in_features).ne(0)
            stats[name]["spikes"] += int(q.abs().sum())
            stats[name]["active"] += int(fires.sum())
            stats[name]["active_union"] += int(fires.any(0).sum())

        return pre_hook

    was = model.config.projection_path
    handles = [site.module.register_forward_pre_hook(recount(site.name, site.module)) for site in sites]
    for site in sites:
        site.module.reset_counts()
        site.module.track_weight_reads = True
    model.eval().set_projection_path("event")
    try:
        cache = None
        for t in range(input_ids.shape[1]):
            cache = model(input_ids[:, t:t + 1], cache_params=cache, use_cache=True).cache_params
    finally:
        for handle in handles:
            handle.remove()
        for site in sites:
            site.module.track_weight_reads = False
        model.set_projection_path(was)
    result = {"layers": [{"layer": site.layer, "sides": {site.side: {"module": f"{site.name}.neuron",
                                                                    **stats[site.name]}}} for site in sites]}
    analytic = analytic_site_counts(result, model.config.shape, model.dtype.itemsize)
    measured = {f"{site.name}.neuron": {"accumulates": site.module.ac_count,
                                        "weight_bytes_decode": site.module.weight_bytes_read} for site in sites}
    return {"analytic": analytic, "measured": measured, "comparison": compare_measured(analytic, measured)}
