"""Figure 2-style energy bars: E_A / E_S per configuration (colour = model size, hatching = SGC, marker =
neuron kind) beside the per-component energy of each configuration and of its dense Mamba2; and the
compute-vs-memory bars of Mamba2 / quantized / SpikingMamba in each precision regime (:func:`plot_regimes`)."""

from __future__ import annotations

import os

from analysis.baselines import MODELS
from analysis.energy import COMPONENTS, UNIT
from analysis.figures import plt, save_figure
from neurons.kinds import CHOICES

_MARKERS = dict(zip(CHOICES, "so^*Dvp"))  # one marker per neuron kind, in neurons.kinds order
_COMPONENT_COLOURS = {"in_proj": "#4c72b0", "out_proj": "#dd8452", "ssm": "#55a868", "others": "#8c8c8c",
                      "neurons": "#c44e52"}


_UNITS = ((1e6, "J"), (1e3, "mJ"), (1.0, "µJ"))  # (µJ per unit, name); the reports are in 1e6 pJ = µJ


def _unit(largest_uj: float) -> tuple[float, str]:
    """The largest unit in which ``largest_uj`` is at least 1 (µJ at the least)."""
    return next(((f, u) for f, u in _UNITS if largest_uj >= f), _UNITS[-1])


def _stacked(bar: dict) -> float:
    """The height of a bar: its components stacked (the report's total, plus neuron ops where counted)."""
    return sum(bar["components"].get(c, 0.0) for c in (*COMPONENTS, "neurons"))


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
    factor, unit = _unit(max(_stacked(b) for b in bars))
    return {"unit": UNIT, "plot_unit": unit, "plot_unit_in_source_units": factor, "bars": bars}


def _component_label(c: str, bars: list[dict]) -> str:
    """A component's legend entry; one too thin to see on every bar says its largest share."""
    share = max(b["components"].get(c, 0.0) / _stacked(b) for b in bars)
    return c if share >= 0.01 else f"{c} (≤ {share:.2%}: too thin to see)"


def plot_energy(entries: list[dict], png_path: str | os.PathLike, source: str | None = None):
    """Draw and save the figure; the JSON beside it is :func:`energy_figure_numbers`. Returns (png, json)."""
    from matplotlib.patches import Patch

    numbers = energy_figure_numbers(entries)
    bars, factor, unit = numbers["bars"], numbers["plot_unit_in_source_units"], numbers["plot_unit"]
    sizes = sorted({b["d_model"] for b in bars})
    size_colour = {d: plt.cm.viridis(i / max(1, len(sizes) - 1) * 0.85) for i, d in enumerate(sizes)}
    fig, (ax_e, ax_r) = plt.subplots(1, 2, figsize=(5 + 1.1 * len(bars), 4.5))
    xs = range(len(bars))
    top = max(b["ratio"] for b in bars)
    for x, b in zip(xs, bars):
        bottom = 0.0
        for c in (*COMPONENTS, "neurons"):
            v = b["components"].get(c)
            if v:
                ax_e.bar(x, v / factor, bottom=bottom, color=_COMPONENT_COLOURS[c],
                         label=_component_label(c, bars) if x == 0 or c == "neurons" else None)
                bottom += v / factor
        ax_e.text(x, bottom, f"{bottom:.4g}", ha="center", va="bottom", fontsize=7)
        ax_r.bar(x, b["ratio"], color=size_colour[b["d_model"]], hatch="//" if b["sgc"] else None,
                 edgecolor="black", linewidth=0.5)
        ax_r.plot(x, b["ratio"] + 0.04 * top, marker=_MARKERS[b["neuron"]], color="black", markersize=6,
                  linestyle="none", label=b["neuron"])
        ax_r.text(x, b["ratio"] + 0.08 * top, f"{b['ratio']:.2f}", ha="center", fontsize=7)
    handles, labels = ax_e.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax_e.legend(unique.values(), unique.keys(), fontsize=7, loc="upper right")
    ax_e.set_ylim(0, max(_stacked(b) for b in bars) / factor * 1.45)  # room for the legend
    handles, labels = ax_r.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    neurons = ax_r.legend(unique.values(), unique.keys(), fontsize=7, title="neuron", title_fontsize=7,
                          loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax_r.add_artist(neurons)
    bar_key = [Patch(facecolor=size_colour[d], edgecolor="black", linewidth=0.5, label=f"d_model {d}") for d in sizes]
    if any(b["sgc"] for b in bars):
        bar_key.append(Patch(facecolor="white", edgecolor="black", hatch="//", linewidth=0.5, label="+SGC"))
    ax_r.legend(handles=bar_key, fontsize=7, title="bar", title_fontsize=7, loc="lower left",
                bbox_to_anchor=(1.0, 0.0))
    for ax in (ax_e, ax_r):
        ax.set_xticks(list(xs))
        ax.set_xticklabels([b["label"] for b in bars], rotation=40, ha="right", fontsize=7)
    ax_e.set_ylabel(f"energy per token ({unit})")
    ax_e.set_title("per-token energy by component")
    ax_r.set_ylabel("E_A / E_S")
    ax_r.set_title("energy efficiency ratio (Fig. 2)")
    ax_r.set_ylim(0, top * 1.25)
    fig.tight_layout()
    return save_figure(fig, png_path, numbers, source=source)


def _bar_label(model: str, rep: dict) -> str:
    if model != "quantized":
        return {"mamba2": "Mamba2", "spikingmamba": "SpikingMamba"}[model]
    bits = sorted({p["bits"] for p in rep["quantized"]["projections"].values() if "bits" in p})
    return f"quantized W8A{'/'.join(map(str, bits))}" if bits else "quantized (none)"
def regimes_figure_numbers(reports: list[dict], label: str) -> dict:
    """The numbers :func:`plot_regimes` draws: per phase (decode, prefill) one bar per (regime, model) with
    compute, memory and total in the phase's unit; ``reports`` (``compare_baselines`` with memory, one per
    regime) are kept whole, so every input and constant is in the JSON."""
    panels = {}
    for phase in ("decode", "prefill"):
        bars = [{"regime": rep["regime"]["name"], "model": m, "compute": rep["models"][m]["compute"]["total"],
                 "memory": rep["models"][m][phase]["memory_total"], "total": rep["models"][m][phase]["total"],
                 "ratio_vs_mamba2": rep["models"]["mamba2"][phase]["total"] / rep["models"][m][phase]["total"]}
                for rep in reports for m in MODELS]
        factor, unit = _unit(max(b["total"] for b in bars))
        for b in bars:
            b.update({k + "_scaled": b[k] / factor for k in ("compute", "memory", "total")})
        panels[phase] = {"unit": unit, "bars": bars}
    return {"label": label, "source_unit": UNIT, "panels": panels, "reports": reports}


def plot_regimes(reports: list[dict], png_path: str | os.PathLike, label: str = ""):
    """Stacked bars, compute below memory, of Mamba2 / quantized / SpikingMamba in each regime; one panel for
    decode and one for prefill, totals printed on the bars. Returns (png, json)."""
    for rep in reports:
        if "memory" not in rep:
            raise ValueError("plot_regimes needs compare_baselines(..., memory=LEVEL) reports")
    numbers = regimes_figure_numbers(reports, label)
    n_models = len(MODELS)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for ax, (phase, panel) in zip(axes, numbers["panels"].items()):
        bars = panel["bars"]
        xs = [i + i // n_models * 0.6 for i in range(len(bars))]  # a gap between regimes
        ax.bar(xs, [b["compute_scaled"] for b in bars], color="#4c72b0", label="compute")
        ax.bar(xs, [b["memory_scaled"] for b in bars], bottom=[b["compute_scaled"] for b in bars],
               color="#dd8452", label="memory")
        top = max(b["total_scaled"] for b in bars)
        for x, b in zip(xs, bars):
            ax.text(x, b["total_scaled"] + 0.01 * top, f"{b['total_scaled']:.3g}", ha="center", va="bottom",
                    fontsize=8)
        ax.set_xticks(xs)
        ax.set_xticklabels([_bar_label(b["model"], reports[0]) for b in bars], rotation=35, ha="right", fontsize=8)
        for g in range(len(reports)):
            centre = sum(xs[g * n_models:(g + 1) * n_models]) / n_models
            ax.text(centre, -0.3, bars[g * n_models]["regime"], transform=ax.get_xaxis_transform(), ha="center",
                    fontsize=10, fontweight="bold")
        ax.set_ylim(0, top * 1.12)
        ax.set_ylabel(f"energy per token ({panel['unit']})")
        tokens = reports[0]["memory"]["columns"]["prefill_tokens_per_pass"]
        ax.set_title("decode (weights read per token)" if phase == "decode"
                     else f"prefill (weights read once per {tokens:g} tokens)", fontsize=10)
        ax.legend(fontsize=8, loc="upper right")
    levels = sorted({rep["memory"]["levels"][m]["name"] for rep in reports for m in MODELS})
    fig.suptitle(f"{label}: compute vs memory per token (Horowitz 2014, 45 nm; memory: {', '.join(levels)})",
                 fontsize=10)
    fig.tight_layout()
    return save_figure(fig, png_path, numbers)
