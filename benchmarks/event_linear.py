"""The event-driven projections of neurons.event against the dense GEMV, at the mamba2-130m shapes.

`python -m benchmarks.event_linear [--quick] [--out DIR]` prints the figures and writes
DIR/event_crossover.json and DIR/event_crossover.png (default DIR: benchmarks/), the sweep that
`neurons.event.EVENT_CROSSOVER` records.

event_linear_{in,out}      time of each candidate / dense `F.linear`, batch 1, fp32, on one input row q
                           with the issue's active fraction (in_proj 768 -> 3352: 70 % non-zero;
                           out_proj 1536 -> 768: 20 %). The figure is the best candidate; the detail
                           has every candidate's median and spread: cpp (event_linear, C++),
                           cpp_spikes (event_linear_spikes, C++, Eq 9), embedding_bag (the pure-torch
                           form) and index_select (the active rows of W.t() copied, then a GEMV).
spike_project_{in,out}     the neuron + projection at one token: event_spike_project (one fused C++
                           call) / today's path (the TI-LIF node, reset, dense F.linear, · V_th),
                           with the node + C++ event_linear unfused and the fused spike-driven form
                           in the detail.
sweep                      every candidate / dense against the active fraction 0..100 % at 1 row
                           (embedding_bag_spikes: the pure-torch spike form), and cpp, cpp_spikes with
                           4 and 16 rows that share their active columns; the crossover is where the least-squares line through the median
                           ratios reaches 1.

How: the weights are column-major (`w.t().contiguous().t()`, the eval-mode CPU decode layout) and,
as in a decode step, come from memory, not from a cache: each side is timed over a set of distinct
random weight matrices of ~1 GiB in all (a decode step of the 130m model reads 516 MB), one call per
matrix, and a repetition times the sides back to back in alternating order (benchmarks.harness).
Every figure is the median of the per-repetition ratios with their min and max. Counts q are TI-LIF
(D = 4) counts: exactly round(fraction · in) non-zero entries per row at random positions (the same
for every row), values drawn from the non-zero counts of Gaussian input at V_th = 0.78. For spike_project the input x is
Gaussian and V_th = 2 Φ⁻¹(1 − f/2), which makes a fraction f of the counts non-zero (measured value
in the detail). One torch thread throughout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks.harness import interleaved_times, ratios
from benchmarks.results import Result, markdown_table
from benchmarks.shapes import MAMBA2_130M, ModelShape

D = 4
COUNT_V_TH = 0.78  # the counts' magnitudes: TI-LIF of N(0, 1) at in_proj's V_th (issue 18)


@dataclass(frozen=True)
class Projection:
    name: str  # "in" or "out"
    in_features: int
    out_features: int
    active: float  # the fraction of non-zero inputs the headline figure is measured at


def projections(shape: ModelShape) -> tuple[Projection, Projection]:
    """in_proj (d_model -> 2 d_inner + 2 G N + H) and out_proj (d_inner -> d_model) of `shape`."""
    d_inner = shape.expand * shape.d_model
    in_proj = 2 * d_inner + 2 * shape.n_groups * shape.d_state + shape.n_heads
    return Projection("in", shape.d_model, in_proj, 0.70), Projection("out", d_inner, shape.d_model, 0.20)


@dataclass(frozen=True)
class Settings:
    weight_bytes: int  # the weight set each side streams through per repetition
    reps: int  # repetitions of the headline figures
    sweep_reps: int
    fractions: tuple[float, ...]  # the 1-row sweep
    row_fractions: tuple[float, ...]  # the sweeps with several rows
    rows: tuple[int, ...] = (4, 16)


FULL = Settings(2**30, 15, 5, tuple(i / 20 for i in range(21)), tuple(i / 10 for i in range(11)))
QUICK = Settings(2**26, 3, 2, (0.0, 0.2, 0.7, 1.0), (0.2, 1.0))


class Weights:
    """Distinct random column-major weights [out, in] of ~`total_bytes` in all; `each(fn)` calls fn(w) on each."""

    def __init__(self, p: Projection, total_bytes: int, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        n = max(2, total_bytes // (4 * p.in_features * p.out_features))
        self.mats = [torch.randn(p.out_features, p.in_features, generator=g).t().contiguous().t() for _ in range(n)]

    def each(self, fn):
        def run() -> None:
            for w in self.mats:
                fn(w)

        return run


def random_counts(in_features: int, fraction: float, rows: int, g: torch.Generator) -> torch.Tensor:
    """[rows, in] TI-LIF counts, exactly round(fraction · in) non-zero entries per row, in the same
    columns for every row (for a given union of active columns the most work: the worst case)."""
    from neurons.functional import quantize

    active = round(fraction * in_features)
    pool = quantize(torch.randn(4 * in_features * rows + 64, generator=g) / COUNT_V_TH, "tilif", D)
    pool = pool[pool != 0][: rows * active]
    q = torch.zeros(rows, in_features)
    q[:, torch.randperm(in_features, generator=g)[:active]] = pool.view(rows, active)
    return q


def v_threshold_for(fraction: float) -> float:
    """V_th at which TI-LIF of N(0, 1) input is non-zero with probability `fraction`: |x| ≥ V_th / 2."""
    return 2 * float(torch.special.ndtri(torch.tensor(1 - fraction / 2, dtype=torch.float64)))


def linear_sides(q: torch.Tensor, weights: Weights, with_index_select: bool) -> dict:
    from neurons import event, event_torch
    from neurons.functional import signed_spikes

    spikes = signed_spikes((torch.arange(D)[:, None, None] < q.abs()).float(), torch.signbit(q).float())
    sides = {
        "dense": weights.each(lambda w: F.linear(q, w)),
        "cpp": weights.each(lambda w: event.event_linear(q, w)),
        "cpp_spikes": weights.each(lambda w: event.event_linear_spikes(spikes, w)),
        "embedding_bag": weights.each(lambda w: event_torch.counts_linear(q, w)),
        "embedding_bag_spikes": weights.each(lambda w: event_torch.spikes_linear(spikes, w)),
    }
    if with_index_select:
        columns = q.abs().sum(0).nonzero().flatten()
        active_q = q[:, columns]
        sides["index_select"] = weights.each(lambda w: active_q @ w.t().index_select(0, columns))
    return sides


def _summary(times: dict, base: str = "dense") -> dict:
    return {name: {"ratio": statistics.median(r := ratios(t, times[base])), "spread": [min(r), max(r)],
                   "seconds": statistics.median(t)} for name, t in times.items()}


def linear_result(p: Projection, s: Settings) -> Result:
    weights = Weights(p, s.weight_bytes)
    q = random_counts(p.in_features, p.active, 1, torch.Generator().manual_seed(1))
    with torch.inference_mode():
        times = interleaved_times(linear_sides(q, weights, True), s.reps, torch.device("cpu"))
    n = len(weights.mats)
    summary = {k: v | {"seconds": v["seconds"] / n} for k, v in _summary(times).items()}
    best = min((k for k in summary if k != "dense"), key=lambda k: summary[k]["ratio"])
    return Result.from_samples(
        f"event_linear_{p.name}", ratios(times[best], times["dense"]), "",
        f"{p.name}_proj {p.in_features} -> {p.out_features}, 1 row, {p.active:.0%} of inputs non-zero, fp32, "
        f"column-major weights from memory ({n} matrices); best candidate {best} / dense F.linear",
        best=best, candidates=summary, active_fraction=float((q != 0).float().mean()))


def spike_project_result(p: Projection, s: Settings) -> Result:
    from neurons import event, make_neuron

    weights = Weights(p, s.weight_bytes)
    v_th = v_threshold_for(p.active)
    x = torch.randn(1, p.in_features, generator=torch.Generator().manual_seed(2))
    node = make_neuron("tilif", D=D, v_threshold=v_th)

    def today(w):  # models.mamba2.spike_project, T = 1, integer mode, bias None
        q = node(x)
        node.reset()
        return F.linear(q, w) * v_th

    def node_event(w):
        q = node(x)
        node.reset()
        return event.event_linear(q, w) * v_th

    sides = {"today": weights.each(today), "node_event": weights.each(node_event),
             "fused": weights.each(lambda w: event.event_spike_project(x, w, None, "tilif", D, v_th)),
             "fused_spikes": weights.each(lambda w: event.event_spike_project(x, w, None, "tilif", D, v_th,
                                                                              spike_driven=True)),
             "node": weights.each(lambda w: (node(x), node.reset()))}
    with torch.inference_mode():
        times = interleaved_times(sides, s.reps, torch.device("cpu"))
        q = event.event_spike_project(x, weights.mats[0], None, "tilif", D, v_th)[1]
    n = len(weights.mats)
    return Result.from_samples(
        f"spike_project_{p.name}", ratios(times["fused"], times["today"]), "",
        f"{p.name}_proj {p.in_features} -> {p.out_features}, one token, TI-LIF D={D}, V_th {v_th:.3f}: "
        "event_spike_project / (node + reset + F.linear · V_th)",
        sides={k: v | {"seconds": v["seconds"] / n} for k, v in _summary(times, "today").items()},
        active_fraction=float((q != 0).float().mean()))


def crossover(fractions: list[float], medians: list[float]) -> float:
    """Where the least-squares line through the sweep's median ratios reaches 1, within [0, 1] (the
    event path's time is linear in its active columns, and a line is robust to one noisy point)."""
    n = len(fractions)
    mean_f, mean_r = sum(fractions) / n, sum(medians) / n
    var = sum((f - mean_f) ** 2 for f in fractions)
    slope = sum((f - mean_f) * (r - mean_r) for f, r in zip(fractions, medians)) / var if var else 0.0
    if slope <= 0:
        return 1.0 if mean_r < 1 else 0.0
    return min(1.0, max(0.0, mean_f + (1 - mean_r) / slope))


def sweep(p: Projection, s: Settings) -> dict:
    """Ratios to dense against the active fraction: every candidate at 1 row, the C++ forms at s.rows."""
    from neurons import event

    weights = Weights(p, s.weight_bytes)
    g = torch.Generator().manual_seed(3)
    curves = {}
    with torch.inference_mode():
        for rows in (1, *s.rows):
            points = []
            for f in s.fractions if rows == 1 else s.row_fractions:
                sides = linear_sides(random_counts(p.in_features, f, rows, g), weights, False)
                if rows > 1:
                    sides = {k: sides[k] for k in ("dense", "cpp", "cpp_spikes")}
                times = interleaved_times(sides, s.sweep_reps, torch.device("cpu"))
                points.append({"fraction": f} | {k: v for k, v in _summary(times).items() if k != "dense"})
            for name in points[0]:
                if name == "fraction":
                    continue
                xs = [pt["fraction"] for pt in points]
                curve = {"active_fraction": xs, "ratio": [pt[name]["ratio"] for pt in points],
                         "spread": [pt[name]["spread"] for pt in points]}
                curve["crossover"] = crossover(xs, curve["ratio"])
                curves[f"{name}@{rows}"] = curve
    return {"in_features": p.in_features, "out_features": p.out_features, "weight_matrices": len(weights.mats),
            "curves": curves, "backend": event.event_backend()}


def plot(sweeps: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sweeps), figsize=(6.5 * len(sweeps), 4.8), sharey=True)
    styles = {"cpp": "C0", "cpp_spikes": "C1", "embedding_bag": "C2", "embedding_bag_spikes": "C3"}
    names = {"cpp": "C++ event_linear", "cpp_spikes": "C++ event_linear_spikes (Eq 9)",
             "embedding_bag": "torch embedding_bag", "embedding_bag_spikes": "torch embedding_bag, spikes"}
    for ax, (name, sw) in zip(axes, sweeps.items()):
        for key, c in sw["curves"].items():
            form, rows = key.split("@")
            x = [100 * u for u in c["active_fraction"]]
            label = names[form] + (f", {rows} rows" if rows != "1" else "")
            line = ax.plot(x, c["ratio"], marker="o", ms=3, color=styles[form], label=label,
                           linestyle="-" if rows == "1" else (":" if rows == "4" else "-."))[0]
            ax.fill_between(x, [lo for lo, _ in c["spread"]], [hi for _, hi in c["spread"]],
                            color=line.get_color(), alpha=0.15)
            if form.startswith("cpp") and rows == "1" and c["crossover"] < 1.0:
                ax.axvline(100 * c["crossover"], color=line.get_color(), lw=0.8)
        ax.axhline(1.0, color="k", lw=1)
        ax.set_title(f"{name}: {sw['in_features']} → {sw['out_features']}, fp32, 1 thread")
        ax.set_xlabel("active input columns (% of in_features, the same for every row)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    axes[0].set_ylabel("time / dense F.linear time (< 1: event path faster)")
    fig.suptitle("Event-driven projection vs dense GEMV, column-major weights from memory "
                 "(vertical lines: 1-row C++ crossovers, least-squares lines; bands: min-max)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def cpu_name() -> str:
    info = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in info.read_text().splitlines()
             if line.startswith("model name")] if info.exists() else []
    return names[0] if names else platform.machine()


def run(settings: Settings, shape: ModelShape = MAMBA2_130M, out_dir: Path | None = None) -> list[Result]:
    """Headline figures and (with out_dir) the sweep's JSON and PNG."""
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    results = []
    for p in projections(shape):
        results += [linear_result(p, settings), spike_project_result(p, settings)]
    if out_dir is not None:
        sweeps = {f"{p.name}_proj": sweep(p, settings) for p in projections(shape)}
        out_dir.mkdir(parents=True, exist_ok=True)
        record = {"settings": asdict(settings), "shape": shape.describe(), "cpu": cpu_name(),
                  "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                  "torch": torch.__version__, "date": time.strftime("%Y-%m-%d %H:%M"),
                  "load_average_1min": {"start": load_before[0], "end": os.getloadavg()[0]},
                  "sweeps": sweeps, "results": [asdict(r) for r in results]}
        (out_dir / "event_crossover.json").write_text(json.dumps(record, indent=2) + "\n")
        plot(sweeps, out_dir / "event_crossover.png")
    return results


def main(argv: list[str] | None = None) -> list[Result]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.event_linear", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small weight set, few points (smoke run)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent, help="folder of the sweep JSON and PNG")
    args = parser.parse_args(argv)
    results = run(QUICK if args.quick else FULL, out_dir=args.out)
    print(markdown_table(results))
    print(f"\nwrote {args.out / 'event_crossover.json'} and .png", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
