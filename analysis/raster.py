"""Signed spike rasters: neurons × (tokens × micro-steps), +1 and −1 spikes in two colours.

SpikingJelly's ``visualizing.plot_1d_spikes`` draws only spikes equal to 1, so TI-LIF's −1 spikes (Eq 9's
sign bit applied to the micro-step train of Eq 7–8) would vanish; these plots keep both polarities.

Spike tensors here are ``[D, L, N]``: D micro-steps, L tokens, N neurons, values in {−1, 0, 1}. On the time
axis token t, micro-step i is column ``t·D + i``.
"""

from __future__ import annotations

import os

import torch

from analysis.figures import plt, save_figure

POSITIVE, NEGATIVE = "#d62728", "#1f77b4"  # +1 red, −1 blue


def raster_grid(spikes: torch.Tensor) -> torch.Tensor:
    """``[D, L, N]`` signed spikes -> ``[N, L·D]`` grid (row = neuron, column = token·D + micro-step)."""
    if spikes.dim() != 3:
        raise ValueError(f"spikes must be [D, L, N] (micro-steps, tokens, neurons); got shape {tuple(spikes.shape)}")
    bad = ~(spikes.eq(0) | spikes.eq(1) | spikes.eq(-1))
    if bad.any():
        raise ValueError(f"spikes must be in {{-1, 0, 1}}; found {spikes[bad][0].item()!r}")
    D, L, N = spikes.shape
    return spikes.permute(2, 1, 0).reshape(N, L * D).to(torch.int8)


def raster_numbers(spikes: torch.Tensor, max_neurons: int | None = None) -> dict:
    """What a raster panel shows: counts per polarity over all neurons and over the neurons drawn (the first
    ``max_neurons``, listed in ``neurons_drawn``), spikes per token, and the drawn grid itself."""
    if max_neurons is not None and max_neurons < 1:
        raise ValueError(f"max_neurons={max_neurons} must be >= 1 (or None: all neurons)")
    D, L, N = spikes.shape
    shown = spikes[..., :max_neurons] if max_neurons else spikes
    return {
        "micro_steps": D,
        "tokens": L,
        "neurons": N,
        "neurons_shown": shown.shape[-1],
        "neurons_drawn": list(range(shown.shape[-1])),
        "positive_spikes": int(spikes.eq(1).sum()),
        "negative_spikes": int(spikes.eq(-1).sum()),
        "positive_spikes_drawn": int(shown.eq(1).sum()),
        "negative_spikes_drawn": int(shown.eq(-1).sum()),
        "spikes_per_token": spikes.abs().sum(dim=(0, 2)).to(torch.int64).tolist(),
        "grid": raster_grid(shown).tolist(),
    }


def _panel_title(name: str, num: dict) -> str:
    drawn = f"+1 × {num['positive_spikes_drawn']}, −1 × {num['negative_spikes_drawn']}"
    if num["neurons_shown"] == num["neurons"]:
        return f"{name}: all {num['neurons']} neurons, {drawn}"
    return (f"{name}: neurons 0–{num['neurons_shown'] - 1} of {num['neurons']} drawn, {drawn} "
            f"(all {num['neurons']}: +1 × {num['positive_spikes']}, −1 × {num['negative_spikes']})")


def plot_rasters(panels: dict[str, torch.Tensor], png_path: str | os.PathLike, max_neurons: int = 64,
                 title: str | None = None, token_text: list[str] | None = None, token_ids: list[int] | None = None,
                 caption: str | None = None, source: str | None = None):
    """One raster per entry of ``panels`` (name -> ``[D, L, N]`` signed spikes), stacked vertically.

    ``token_text``: each token's text, the x-axis labels (else the token index); ``token_ids`` are stored
    beside them. ``caption``: a line under the rasters (what the panel names mean); ``source``: see
    `save_figure`. Writes ``png_path`` and the numbers (:func:`raster_numbers` per panel) beside it; returns
    (png, json)."""
    if not panels:
        raise ValueError("no spike panels to plot")
    numbers = {name: raster_numbers(s, max_neurons) for name, s in panels.items()}
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 1.4 + 1.6 * len(panels)), squeeze=False)
    for ax, (name, num) in zip(axes[:, 0], numbers.items()):
        grid = torch.tensor(num["grid"])
        for value, colour, label in ((1, POSITIVE, "+1"), (-1, NEGATIVE, "−1")):
            rows, cols = torch.nonzero(grid == value, as_tuple=True)
            ax.scatter(cols.tolist(), rows.tolist(), s=6, marker="|", color=colour, label=label, linewidths=1)
        for t in range(1, num["tokens"]):
            ax.axvline(t * num["micro_steps"] - 0.5, color="0.85", linewidth=0.5, zorder=0)
        ax.set_xlim(-0.5, num["tokens"] * num["micro_steps"] - 0.5)
        every = 1 if token_text is not None and num["tokens"] <= 48 else max(1, num["tokens"] // 16)
        ticks = range(0, num["tokens"], every)
        ax.set_xticks([t * num["micro_steps"] + (num["micro_steps"] - 1) / 2 for t in ticks])
        labels = ([repr(token_text[t])[1:-1].replace(" ", "␣") for t in ticks] if token_text is not None
                  else [str(t) for t in ticks])
        ax.set_xticklabels(labels, fontsize=7, rotation=90 if max(map(len, labels), default=0) > 2 else 0)
        ax.set_ylim(num["neurons_shown"] - 0.5, -0.5)
        ax.set_ylabel("neuron")
        ax.set_title(_panel_title(name, num), fontsize=8)
    (steps, *others) = {num["micro_steps"] for num in numbers.values()}
    steps = "D micro-steps" if others else f"{steps} micro-step{'s' if steps > 1 else ''}"
    axes[-1, 0].set_xlabel(("token" if token_text is not None else "token index")
                           + f" (each column group: its {steps})" + (f"\n{caption}" if caption else ""))
    axes[0, 0].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, markerscale=3)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    tokens = {"token_ids": token_ids, "token_text": token_text} if token_text is not None else {}
    return save_figure(fig, png_path, {"layout": "grid[neuron][token*D + micro_step]", **tokens, "panels": numbers},
                       source=source)


@torch.no_grad()
def model_spike_trains(model, input_ids: torch.Tensor, layers=None) -> dict[str, torch.Tensor]:
    """Spike-driven run of ``model`` on the first sequence of ``input_ids`` [B, L]: for every neuron of
    ``layers`` (default all), its signed micro-step spikes ``[T·D, L, N]`` keyed ``"layer i · u"`` (in_proj
    input) / ``"layer i · y"`` (out_proj input), the paper's symbols (`models.shape.SIDES`). The model's
    mode is restored afterwards."""
    from spikingjelly.activation_based.monitor import OutputMonitor

    from analysis.firing_rates import require_neurons
    from analysis.probes import layer_indices
    from models.shape import SIDES
    from neurons import SpikingNode

    sites = require_neurons(model, "spikes to draw")
    chosen = set(layer_indices(model, layers))
    was = any(site.module.spike_driven for site in sites.values())
    model.eval().set_spike_driven(True)
    try:
        with OutputMonitor(model, instance=SpikingNode, function_on_output=lambda s: s[:, 0].detach()) as mon:
            model(input_ids[:1])
    finally:
        model.set_spike_driven(was)
    return {f"layer {site.layer} · {SIDES[site.side].symbol}": mon[name][0]
            for name, site in sites.items() if site.layer in chosen}
