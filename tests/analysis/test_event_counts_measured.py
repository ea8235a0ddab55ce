"""Issue 13 item 4: the accumulates and weight bytes the event-driven path really performed, counted by the
path itself, equal the analytic counts (Table 12 / analysis.memory) recomputed from the same inputs."""
import pytest
import torch

from analysis.event_run import measure_event_counts
from analysis.firing_rates import load_model
from analysis import event_counts as ev


@pytest.mark.parametrize("kind, spike_driven", [("tilif", False), ("tilif", True), ("ilif", False), ("lif", True)])
def test_measured_event_counts_equal_the_analytic_ones(checkpoints, ids, kind, spike_driven):
    model = load_model(checkpoints[kind]).set_spike_driven(spike_driven)
    out = measure_event_counts(model, ids[:1, :20])
    assert ev.all_equal(out["comparison"]) and len(out["comparison"]) == 2 * model.config.n_layer
    assert sum(c["accumulates"] for c in out["measured"].values()) > 0
    assert sum(c["weight_bytes_decode"] for c in out["measured"].values()) > 0
    assert model.config.projection_path == "auto"  # restored


def test_a_wrong_count_is_reported(checkpoints, ids):
    out = measure_event_counts(load_model(checkpoints["tilif"]), ids[:1, :6])
    module = next(iter(out["measured"]))
    wrong = {module: {"accumulates": out["measured"][module]["accumulates"] + 1}}
    assert not ev.all_equal(ev.compare_measured(out["analytic"], wrong))
    with pytest.raises(ValueError, match=r"one sequence \[1, L\]"):
        measure_event_counts(load_model(checkpoints["tilif"]), torch.cat([ids, ids])[:, :6])
