"""Figure 2-style energy bars: E_A / E_S per configuration (colour = model size, hatching = SGC, marker =
neuron kind) beside the per-component energy of each configuration and of its dense Mamba2."""

from __future__ import annotations

import os

from analysis.energy import COMPONENTS, UNIT
from analysis.figures import plt, save_figure
from neurons.kinds import CHOICES

_MARKERS = dict(zip(CHOICES, "so^*Dvp"))  # one marker per neuron kind, in neurons.kinds order
_COMPONENT_COLOURS = {"in_proj": "#4c72b0", "out_proj": "#dd8452", "ssm": "#55a868", "others": "#8c8c8c",
                      "neurons": "#c44e52"}


def energy_figure_numbers(entries: list[dict]) -> dict:
    """The numbers :func:`plot_energy` draws. ``entries``: ``{"label", "report" (an energy_report dict),
    "sgc" (bool or None)}``. Dense Mamba2 bars are added once per model shape (from the reports)."""
    bars, seen = [], set()
    for e in entries:
        rep = e["report"]
        key = tuple(sorted(rep["shape"].items()))
        if key not in seen:
            seen.add(key)
            bars.append({"label": f"Mamba2 d{rep['shape']['d_model']}", "d_model": rep["shape"]["d_model"],
                         "neuron": "none", "sgc": None, "components": rep["mamba2"], "ratio": 1.0})
        bars.append({"label": e["label"], "d_model": rep["shape"]["d_model"],
                     "neuron": rep["neuron_in"], "sgc": e.get("sgc"),
                     "components": rep["components"], "ratio": rep["ratio"]})
    return {"unit": UNIT, "bars": bars}


def plot_energy(entries: list[dict], png_path: str | os.PathLike):
    """Draw and save the figure; the JSON beside it is :func:`energy_figure_numbers`. Returns (png, json)."""
    numbers = energy_figure_numbers(entries)
    bars = numbers["bars"]
    sizes = sorted({b["d_model"] for b in bars})
    size_colour = {d: plt.cm.viridis(i / max(1, len(sizes) - 1) * 0.85) for i, d in enumerate(sizes)}
    fig, (ax_e, ax_r) = plt.subplots(1, 2, figsize=(4 + 1.1 * len(bars), 4.5))
    xs = range(len(bars))
    top = max(b["ratio"] for b in bars)
    for x, b in zip(xs, bars):
        bottom = 0.0
        for c in (*COMPONENTS, "neurons"):
            v = b["components"].get(c)
            if v:
                ax_e.bar(x, v, bottom=bottom, color=_COMPONENT_COLOURS[c], label=c if x == 0 or c == "neurons" else None)
                bottom += v
        ax_e.text(x, bottom, f"{bottom:.1f}", ha="center", va="bottom", fontsize=7)
        ax_r.bar(x, b["ratio"], color=size_colour[b["d_model"]], hatch="//" if b["sgc"] else None,
                 edgecolor="black", linewidth=0.5)
        ax_r.plot(x, b["ratio"] + 0.04 * top, marker=_MARKERS[b["neuron"]], color="black", markersize=6,
                  linestyle="none", label=b["neuron"])
        ax_r.text(x, b["ratio"] + 0.08 * top, f"{b['ratio']:.2f}", ha="center", fontsize=7)
    handles, labels = ax_e.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax_e.legend(unique.values(), unique.keys(), fontsize=7)
    handles, labels = ax_r.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax_r.legend(unique.values(), unique.keys(), fontsize=7, title="neuron", title_fontsize=7)
    for ax in (ax_e, ax_r):
        ax.set_xticks(list(xs))
        ax.set_xticklabels([b["label"] for b in bars], rotation=40, ha="right", fontsize=7)
    ax_e.set_ylabel(f"energy ({UNIT})")
    ax_e.set_title("per-token energy by component")
    ax_r.set_ylabel("E_A / E_S")
    ax_r.set_title("energy efficiency ratio (Fig. 2)")
    ax_r.set_ylim(0, top * 1.25)
    fig.tight_layout()
    return save_figure(fig, png_path, numbers)
