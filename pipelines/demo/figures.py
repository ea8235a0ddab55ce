"""The demo's figures, each a PNG with its numbers as JSON beside it (``analysis.figures.save_figure``):

    loss_curves.png         teacher CE (train, held-out), students' L = L_KL + L_hidden, alignment loss
    final_block_hist.png    Figures 5–7: final-block outputs, teacher vs every student (analysis.activations)
    spike_rasters.png       signed spikes of the last block's out_proj input per student (analysis.raster)
    energy.png              Figure 2: E_A/E_S and per-component energy (analysis.energy_figure)
"""
from __future__ import annotations

from pathlib import Path

import torch

from analysis.figures import plt, save_figure
from pipelines.metrics import read_metrics


# the alignment runs' Eq 14–15 term alone (their "loss" adds λ·L_hidden where an SGC branch is kept)
PREFERENCE_LOSSES = ("loss_dpo", "loss_kto")


def plot_loss_curves(runs: dict[str, dict[str, Path]], png_path: Path):
    """``runs``: {"teacher"|"students"|"alignment": {label: run dir holding metrics.jsonl}}; the alignment
    panel draws the preference loss (Eq 14–15) of every run, so runs with and without SGC compare."""
    panels = [(group, runs[group]) for group in ("teacher", "students", "alignment") if runs.get(group)]
    numbers = {group: {label: read_metrics(d) for label, d in dirs.items()} for group, dirs in panels}
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), squeeze=False)
    for ax, (group, curves) in zip(axes[0], numbers.items()):
        for label, records in curves.items():
            key = next((k for k in PREFERENCE_LOSSES if group == "alignment" and any(k in r for r in records)), "loss")
            train = [(r["step"], r[key]) for r in records if key in r]
            ax.plot(*zip(*train), label=f"{label} (train)" if group == "teacher" else label)
            held = [(r["step"], r["heldout_loss"]) for r in records if "heldout_loss" in r]
            if held:
                ax.plot(*zip(*held), "o--", label=f"{label} (held-out)")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel({"teacher": "next-token CE (nats)", "students": "L = L_KL + L_hidden (Eq 12)",
                       "alignment": "L_DPO / L_KTO (Eq 14-15)"}[group])
        if group == "students":
            ax.set_yscale("log")
        ax.set_title(group)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, png_path, numbers)


def plot_histograms(models: dict, batch: torch.Tensor, png_path: Path):
    """Figures 5–7 on the same held-out tokens for every model (the first entry is the reference)."""
    from analysis.activations import final_block_histograms, plot_final_block_histograms

    return plot_final_block_histograms(final_block_histograms(models, batch), png_path)


def plot_spike_rasters(students: dict, batch: torch.Tensor, png_path: Path, max_neurons: int = 48):
    """One panel per student: the last block's out_proj-input neurons over the first tokens of ``batch``."""
    from analysis.raster import model_spike_trains, plot_rasters

    panels = {}
    for name, model in students.items():
        last = model.config.n_layer - 1
        trains = model_spike_trains(model, batch[:1], layers=[last])
        panels[f"{name} · layer {last} · y"] = trains[f"layer {last} · y"]
    return plot_rasters(panels, png_path, max_neurons=max_neurons,
                        title="spike-driven micro-steps (Eq 7–9): +1 red, −1 blue")


def plot_energy_bars(results: dict[str, dict], sgc: dict[str, bool], png_path: Path):
    """Figure 2 at the demo's shape, from each spiking model's ``energy`` report."""
    from analysis.energy_figure import plot_energy

    entries = [{"label": name, "report": r["energy"], "sgc": sgc.get(name)}
               for name, r in results.items() if r.get("fr_in") is not None]
    return plot_energy(entries, png_path)
