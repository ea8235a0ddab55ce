"""Table 7: set the maximum activation of every channel to 0 or 1 and measure what the model loses.

For the in_proj input ``u`` (side "in") or the out_proj input ``y`` (side "out") of every block (or of ``layers``), each channel's
largest value over the tokens of a sequence is replaced by ``value`` (0 or 1 in the paper, "mimicking a
spiking output"); everything else is untouched. ``criterion="absmax"`` clamps the largest magnitude
instead (the paper's "high-magnitude activations"; its Table 7 wording says "maximum"). The evaluation is
the caller's: any ``evaluate(model) -> dict[str, float]`` (perplexity on a text file, lm-eval accuracy...).

Only whole-sequence forwards are clamped ([B, L, C], max over L); decoding one token at a time has no
sequence to take a maximum over.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterable

import torch
from torch import nn

from analysis.probes import hook_projection_inputs
from models.shape import SIDES

PAPER_SETTINGS = (("out", 0.0), ("out", 1.0), ("in", 0.0), ("in", 1.0))  # Table 7's rows: y_max, then u_max


def clamp_channel_max(x: torch.Tensor, value: float, criterion: str = "max") -> tuple[torch.Tensor, torch.Tensor]:
    """x [..., L, C] -> (x with each channel's max over L set to ``value``, the token index per channel
    [..., C]). Ties go to the first token (torch.argmax)."""
    if criterion not in ("max", "absmax"):
        raise ValueError(f"criterion={criterion!r}; choose 'max' or 'absmax'")
    if x.dim() < 2:
        raise ValueError(f"expected [..., L, C] activations, got shape {tuple(x.shape)}")
    idx = (x.abs() if criterion == "absmax" else x).argmax(dim=-2)
    out = x.scatter(-2, idx.unsqueeze(-2), torch.full_like(x[..., :1, :], value))
    return out, idx


@contextmanager
def clamped(model: nn.Module, side: str, value: float, layers: Iterable[int] | None = None,
            criterion: str = "max", record: list | None = None):
    """Within the block, every forward clamps the input of the ``side`` projection ("in": u, "out": y) of
    ``layers`` (default all). ``record``, if given, receives ``(layer, token index per channel [B, C])``
    for each clamp applied."""

    def clamp(layer, _, x):
        out, idx = clamp_channel_max(x, value, criterion)
        if record is not None:
            record.append((layer, idx))
        return out

    with hook_projection_inputs(model, clamp, sides=(side,), layers=layers):
        yield


def clamp_experiment(
    model: nn.Module,
    evaluate: Callable[[nn.Module], dict],
    settings: Iterable[tuple[str, float]] = PAPER_SETTINGS,
    layers: Iterable[int] | None = None,
    criterion: str = "max",
) -> dict:
    """Table 7: ``evaluate`` the model as is, then under each (side, value) clamp.

    Returns ``{"baseline": metrics, "settings": [{"side", "value", "label", "metrics", "diff"}], ...}``
    (label: the paper's "y_max = 0"), where
    ``diff[k] = metrics[k] − baseline[k]`` for every float metric (counts such as ``tokens`` are ints)."""
    layers = None if layers is None else list(layers)
    baseline = evaluate(model)
    rows = []
    for side, value in settings:
        with clamped(model, side, value, layers, criterion):
            metrics = evaluate(model)
        diff = {k: v - baseline[k] for k, v in metrics.items() if isinstance(v, float) and k in baseline}
        rows.append({"side": side, "value": value, "label": f"{SIDES[side].symbol}_max = {value:g}",
                     "metrics": metrics, "diff": diff})
    return {"criterion": criterion, "layers": layers if layers is not None else "all", "baseline": baseline,
            "settings": rows}


def plot_clamp(result: dict, png_path, source: str | None = None):
    """Per metric, each setting's change from the baseline (Table 7's "Diff." column); the JSON beside the
    PNG is ``result``."""
    from analysis.figures import plt, save_figure, sides_caption

    rows = result["settings"]
    keys = [k for k in rows[0]["diff"]] if rows else []
    fig, axes = plt.subplots(1, max(1, len(keys)), figsize=(4 * max(1, len(keys)), 3.5), squeeze=False)
    for ax, key in zip(axes[0], keys):
        diffs = [r["diff"][key] for r in rows]
        ax.bar(range(len(rows)), diffs, color="#c44e52")
        for x, d in enumerate(diffs):
            ax.text(x, d, f"{d:+.3g}", ha="center", va="bottom" if d >= 0 else "top", fontsize=7)
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([r["label"] for r in rows], rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{key}: change from baseline {result['baseline'][key]:.4g}", fontsize=9)
    fig.suptitle(f"Table 7: each channel's {'|max|' if result['criterion'] == 'absmax' else 'max'} set to 0 or 1 "
                 f"(layers {result['layers']})\n{sides_caption()}", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, png_path, result, source=source)
