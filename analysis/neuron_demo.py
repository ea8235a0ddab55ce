"""A self-contained look at the three neurons: LIF, I-LIF and TI-LIF on the same random input.

Each neuron sees ``[L, N]`` inputs (L tokens of N channels), one logical step per token as inside a
SpikingMamba block (T = 1, state reset between calls). For each kind it records the integer-mode output
q (Eq 2 / 3 / 5), the spike-driven micro-step spikes (Eq 7–8) with their signs (Eq 9), checks that the
spikes sum back to q exactly, feeds them to a ``SpikeDrivenLinear`` and compares its accumulate count with
Σ|q|·out_features, and computes the Table 12 firing rate. Writes a signed spike raster (PNG + JSON).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from analysis.energy import firing_rate
from analysis.figures import write_json
from analysis.raster import plot_rasters
from neurons.kinds import KINDS


def simulate_neuron(
    kind: str, x: torch.Tensor, D: int = 4, out_features: int = 16, seed: int = 0
) -> tuple[dict, torch.Tensor]:
    """Run one neuron kind on ``x`` [L, N] in both modes -> (its numbers, signed spikes [D, L, N])."""
    from neurons import SpikeDrivenLinear, make_neuron

    node = make_neuron(kind, D=D)
    q = node(x)
    node.reset()
    node.spike_driven = True
    spikes = node(x)  # [D, L, N] in {-1, 0, 1}
    node.reset()
    torch.manual_seed(seed)
    proj = SpikeDrivenLinear(x.shape[-1], out_features)
    proj.reset_ac_count()
    with torch.no_grad():
        y_spikes, y_dense = proj.forward_spikes(spikes), proj(q)
    n_spikes = int(q.abs().sum())
    k = node.D
    numbers = {
        "kind": kind,
        "D": k,
        "tokens": x.shape[0],
        "channels": x.shape[1],
        "integer_output": q.to(torch.int64).tolist(),
        "spikes_sum_to_integer_output": bool(torch.equal(spikes.sum(0), q)),
        "spike_count": n_spikes,
        "positive_spikes": int(spikes.eq(1).sum()),
        "negative_spikes": int(spikes.eq(-1).sum()),
        "firing_rate": firing_rate(n_spikes, x.shape[0], x.shape[1], k),
        "ac_count": proj.ac_count,
        "ac_expected": n_spikes * out_features,
        "max_abs_diff_spike_vs_dense_linear": float((y_spikes - y_dense).abs().max()),
    }
    return numbers, spikes


def run_demo(out_dir: str | os.PathLike, tokens: int = 16, channels: int = 32, D: int = 4, scale: float = 2.0,
             seed: int = 0) -> dict:
    """Simulate all three kinds on one seeded input ``scale · N(0, 1)`` of shape [tokens, channels].

    Writes ``neuron_raster.png`` + ``neuron_raster.json`` (the raster's numbers) and ``neurons.json`` (the
    input and every kind's numbers) to ``out_dir``; returns the ``neurons.json`` content."""
    gen = torch.Generator().manual_seed(seed)
    x = scale * torch.randn(tokens, channels, generator=gen)
    results, panels = {}, {}
    for kind in KINDS.values():
        results[kind.name], panels[f"{kind.label} ({kind.step(D)})"] = simulate_neuron(kind.name, x, D, seed=seed)
    out = Path(out_dir)
    png, raster_json = plot_rasters(panels, out / "neuron_raster.png", max_neurons=channels,
                                    title=f"{tokens} tokens × {channels} channels, input {scale}·N(0,1), seed {seed}")
    summary = {"seed": seed, "scale": scale, "input": x.tolist(), "neurons": results,
               "raster_png": str(png), "raster_json": str(raster_json)}
    write_json(out / "neurons.json", summary)
    return summary
