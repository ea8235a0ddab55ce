"""benchmarks.event_linear end to end at a tiny shape (figures, JSON, PNG; values not checked), its
workload helpers, and neurons.event's measured rule: EVENT_CROSSOVER is the crossover recorded in
benchmarks/event_crossover.json, and event_is_faster reads it as documented."""

import json
import math
from pathlib import Path

import pytest
import torch

from benchmarks import event_linear as bench
from benchmarks.shapes import ModelShape
from neurons import event

RECORD = Path(bench.__file__).with_name("event_crossover.json")
TINY = ModelShape(d_model=32, n_layer=1, d_state=8, headdim=16, expand=2, n_groups=1, vocab_size=64)
FORMS = {"cpp": ("cpp", "counts"), "cpp_spikes": ("cpp", "spikes"), "embedding_bag": ("torch", "counts"),
         "embedding_bag_spikes": ("torch", "spikes")}


def test_tiny_run_writes_every_figure_and_the_sweep(tmp_path):
    settings = bench.Settings(weight_bytes=2**18, reps=1, sweep_reps=1, fractions=(0.0, 0.5, 1.0),
                              row_fractions=(0.5, 1.0), rows=(2,))
    results = bench.run(settings, TINY, tmp_path)
    assert [r.name for r in results] == ["event_linear_in", "spike_project_in", "event_linear_out",
                                         "spike_project_out"]
    assert all(math.isfinite(r.value) and r.value > 0 for r in results)
    record = json.loads((tmp_path / "event_crossover.json").read_text())
    curves = record["sweeps"]["in_proj"]["curves"]
    assert set(curves) == {"cpp@1", "cpp_spikes@1", "embedding_bag@1", "embedding_bag_spikes@1", "cpp@2",
                           "cpp_spikes@2"}
    assert all(0.0 <= c["crossover"] <= 1.0 for c in curves.values())
    assert (tmp_path / "event_crossover.png").stat().st_size > 10_000


def test_random_counts_have_exactly_the_active_fraction():
    q = bench.random_counts(768, 0.7, 3, torch.Generator().manual_seed(0))
    assert q.shape == (3, 768) and bool(((q != 0).sum(1) == round(0.7 * 768)).all())
    assert bool(((q != 0).any(0).sum() == round(0.7 * 768)))  # the same columns in every row
    assert set(q.unique().tolist()) <= set(range(-4, 5)) and bool((q == q.round()).all())
    x = torch.randn(200_000, generator=torch.Generator().manual_seed(0))
    for f in (0.2, 0.7):
        active = (x.abs() >= bench.v_threshold_for(f) / 2).float().mean()
        assert abs(float(active) - f) < 0.01


def test_crossover_is_where_the_fitted_line_reaches_one():
    assert bench.crossover([0.0, 0.5, 1.0], [0.1, 0.6, 1.1]) == pytest.approx(0.9)
    assert bench.crossover([0.0, 0.5, 1.0], [0.1, 0.3, 0.5]) == 1.0  # never: clipped
    assert bench.crossover([0.0, 0.5, 1.0], [1.2, 1.5, 2.0]) == 0.0  # always dense


def test_event_crossover_is_the_recorded_measurement():
    record = json.loads(RECORD.read_text())
    for sweep in record["sweeps"].values():
        shape = (sweep["in_features"], sweep["out_features"])
        for key, curve in sweep["curves"].items():
            form, rows = key.split("@")
            table = event.EVENT_CROSSOVER[(*FORMS[form], int(rows))]
            assert table[shape] == round(curve["crossover"], 2), key


def test_event_is_faster_reads_the_table(monkeypatch):
    monkeypatch.setattr(event, "EVENT_CROSSOVER", {
        ("cpp", "counts", 1): {(8, 4): 0.9, (16, 4): 0.5}, ("cpp", "counts", 4): {(8, 4): 0.6, (16, 4): 0.3},
        ("torch", "counts", 1): {(8, 4): 0.4, (16, 4): 0.2}})
    monkeypatch.setattr(event, "event_backend", lambda: "cpp")
    assert event.event_is_faster(8, 4, 0.85) and not event.event_is_faster(8, 4, 0.95)
    assert event.event_is_faster(8, 4, 0.55, rows=2) and not event.event_is_faster(8, 4, 0.65, rows=3)  # next: 4
    assert not event.event_is_faster(8, 4, 0.1, rows=5)  # more rows than measured: dense
    assert event.event_is_faster(32, 4, 0.45) and not event.event_is_faster(32, 4, 0.55)  # unmeasured: lowest
    assert not event.event_is_faster(8, 4, 0.1, spikes=True)  # form not measured: dense
    assert not event.event_is_faster(8, 4, 0.5, dtype=torch.bfloat16)  # the torch forms' table
    monkeypatch.setattr(event, "event_backend", lambda: "torch")
    assert event.event_is_faster(8, 4, 0.35) and not event.event_is_faster(8, 4, 0.45)
