"""Activation statistics of Appendix B and F: per-layer distributions of the projection inputs u and y
(Figure 3), token × channel magnitude maps (Figure 4) and final-block output histograms, teacher vs
students (Figures 5–7).

All functions run one forward over ``input_ids`` ``[B, L]`` and keep only summaries (statistics are computed
inside the hooks), so memory stays at one layer's activations. Quantiles of more than 2^24 values use an
evenly strided subset of 2^24 of them (``torch.quantile``'s limit).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from analysis.figures import plt, save_figure
from analysis.probes import hook_projection_inputs, layer_indices
from models.shape import SIDES

QUANTILES = (0.0, 0.001, 0.01, 0.25, 0.5, 0.75, 0.99, 0.999, 1.0)
_QUANTILE_LIMIT = 2**24


def summary_stats(x: torch.Tensor) -> dict:
    """mean, std, absmax and QUANTILES (keys "q0", "q0.001", ...) of all values of ``x``."""
    v = x.detach().flatten().float()
    if v.numel() == 0:
        raise ValueError("no values to summarise")
    sample = v[:: -(-v.numel() // _QUANTILE_LIMIT)] if v.numel() > _QUANTILE_LIMIT else v
    qs = torch.quantile(sample, torch.tensor(QUANTILES))
    out = {"count": v.numel(), "mean": float(v.mean()), "std": float(v.std(unbiased=False)),
           "absmax": float(v.abs().max())}
    out.update({f"q{q:g}": float(val) for q, val in zip(QUANTILES, qs)})
    out["q0"], out["q1"] = float(v.min()), float(v.max())  # exact even when sampled
    return out


@torch.no_grad()
def projection_input_stats(model, input_ids: torch.Tensor, layers=None) -> dict:
    """Figure 3: ``{"in": [stats per layer], "out": [...], "layers": [...]}`` for the in_proj input u and
    the out_proj input y."""
    chosen = layer_indices(model, layers)
    stats: dict[tuple[int, str], dict] = {}

    def record(layer, side, x):
        stats[(layer, side)] = summary_stats(x)

    model.eval()
    with hook_projection_inputs(model, record, layers=chosen):
        model(input_ids)
    return {"tokens": input_ids.numel(), "layers": chosen,
            **{side: [stats[(i, side)] for i in chosen] for side in SIDES}}


@torch.no_grad()
def magnitude_maps(model, input_ids: torch.Tensor, layer: int) -> dict:
    """Figure 4: |u| and |y| of one layer for the first sequence: ``{"in": [L][d_model], "out": [L][d_inner]}``
    plus the per-channel max over tokens (the values Table 7 clamps) and the token holding it."""
    (layer,) = layer_indices(model, [layer])
    maps: dict[str, torch.Tensor] = {}

    def record(_, side, x):
        maps[side] = x[0].detach().float()

    model.eval()
    with hook_projection_inputs(model, record, layers=[layer]):
        model(input_ids[:1])
    out = {"layer": layer, "tokens": input_ids.shape[-1]}
    for side, x in maps.items():
        values, where = x.max(dim=0)
        out[side] = {"abs": x.abs().tolist(), "channel_max": values.tolist(), "channel_argmax": where.tolist()}
    return out


@torch.no_grad()
def final_block_outputs(model, input_ids: torch.Tensor) -> torch.Tensor:
    """The last block's output before ``norm_f`` (``hidden_states[-1]``), ``[B, L, d_model]``."""
    model.eval()
    return model(input_ids, output_hidden_states=True).hidden_states[-1]


def final_block_histograms(models: dict, input_ids: torch.Tensor, bins: int = 200,
                           clip_quantile: float = 0.001) -> dict:
    """Figures 5–7: histograms of the final-block outputs of every model (e.g. ``{"teacher": m, "tilif": s}``)
    on the same tokens, over shared bin edges spanning [min q_clip, max q_(1−clip)] across models (values
    outside land in the end bins' ``below`` / ``above`` counts). ``overlap`` = Σ min(p, p_first) against
    the first model (1 = identical histograms)."""
    if not models:
        raise ValueError("give at least one model")
    values = {name: final_block_outputs(m, input_ids).flatten().float() for name, m in models.items()}
    stats = {name: summary_stats(v) for name, v in values.items()}
    lo = min(s[f"q{clip_quantile:g}"] for s in stats.values())
    hi = max(s[f"q{1 - clip_quantile:g}"] for s in stats.values())
    if not hi > lo:
        hi = lo + 1.0
    edges = torch.linspace(lo, hi, bins + 1)
    out = {"tokens": input_ids.numel(), "edges": edges.tolist(), "models": {}}
    first = None
    for name, v in values.items():
        counts = torch.histc(v.clamp(lo, hi), bins=bins, min=lo, max=hi)
        p = counts / counts.sum()
        first = p if first is None else first
        skew = float(((v - v.mean()) ** 3).mean() / v.std(unbiased=False).clamp_min(1e-12) ** 3)
        out["models"][name] = {**stats[name], "counts": counts.long().tolist(), "below": int((v < lo).sum()),
                               "above": int((v > hi).sum()), "fraction_positive": float((v > 0).float().mean()),
                               "skewness": skew, "overlap_with_first": float(torch.minimum(p, first).sum())}
    return out


# ---------------------------------------------------------------- figures ---------------------------

def plot_projection_stats(stats: dict, png_path: str | os.PathLike, source: str | None = None):
    """Figure 3: per-layer box plots (box 25–75 %, whiskers 1–99 %, dots min/max) of u and y."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for ax, side in zip(axes, SIDES.values()):
        boxes = [{"med": s["q0.5"], "q1": s["q0.25"], "q3": s["q0.75"], "whislo": s["q0.01"], "whishi": s["q0.99"],
                  "fliers": [s["q0"], s["q1"]], "label": str(layer)} for layer, s in zip(stats["layers"], stats[side.name])]
        ax.bxp(boxes, showfliers=True, flierprops={"markersize": 3})
        ax.set_title(f"{side.module} input {side.symbol} ({side.equation})")
        ax.set_xlabel("layer")
        ax.set_ylabel("activation")
        ax.tick_params(axis="x", labelsize=7)
    fig.suptitle(f"over {stats['tokens']} tokens: box 25–75 %, line median, whiskers 1–99 %, dots min / max",
                 fontsize=9)
    fig.tight_layout()
    return save_figure(fig, png_path, stats, source=source)


def plot_magnitude_maps(maps: dict, png_path: str | os.PathLike, source: str | None = None):
    """Figure 4: token × channel |activation| maps of u and y for one layer."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for ax, side in zip(axes, SIDES.values()):
        image = ax.imshow(torch.tensor(maps[side.name]["abs"]).numpy(), aspect="auto", cmap="magma",
                          interpolation="nearest")
        fig.colorbar(image, ax=ax, label="|activation|")
        ax.set_title(f"layer {maps['layer']}: |{side.symbol}| ({side.module} input)")
        ax.set_xlabel("channel")
        ax.set_ylabel("token")
    fig.tight_layout()
    return save_figure(fig, png_path, maps, source=source)


def plot_final_block_histograms(hist: dict, png_path: str | os.PathLike, source: str | None = None):
    """Figures 5–7: overlaid step histograms (probability per bin) of the final-block outputs."""
    edges = torch.tensor(hist["edges"])
    centres = ((edges[1:] + edges[:-1]) / 2).numpy()
    fig, ax = plt.subplots(figsize=(7, 4))
    first = next(iter(hist["models"]))
    for name, h in hist["models"].items():
        counts = torch.tensor(h["counts"], dtype=torch.float64)
        overlap = "" if name == first else f" (overlap with {first} {h['overlap_with_first']:.2f})"
        ax.step(centres, (counts / counts.sum()).numpy(), where="mid", label=name + overlap)
    ax.set_xlabel("final-block output value")
    ax.set_ylabel("fraction of values")
    ax.set_title(f"final block outputs on {hist['tokens']} tokens")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, png_path, hist, source=source)


def write_activation_figures(model, input_ids: torch.Tensor, out_dir: str | os.PathLike, layer: int | None = None,
                             map_tokens: int = 128, source: str | None = None) -> dict:
    """Figures 3 and 4 for one checkpoint into ``out_dir`` (``fig3_projection_inputs.{png,json}``,
    ``fig4_magnitudes_layerN.{png,json}``; default layer: the last; ``source``: see `save_figure`). Returns
    the paths."""
    out = Path(out_dir)
    n = len(layer_indices(model, None))
    layer = n - 1 if layer is None else layer
    fig3 = plot_projection_stats(projection_input_stats(model, input_ids), out / "fig3_projection_inputs.png", source)
    maps = magnitude_maps(model, input_ids[..., :map_tokens], layer)
    fig4 = plot_magnitude_maps(maps, out / f"fig4_magnitudes_layer{layer}.png", source)
    return {"fig3": [str(p) for p in fig3], "fig4": [str(p) for p in fig4]}
