"""Signed spike rasters and the standalone neuron demo: the figures' JSON holds the spikes actually drawn."""

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.__main__ import main
from analysis.raster import plot_rasters, raster_grid


@settings(max_examples=30, deadline=None)
@given(D=st.integers(1, 5), L=st.integers(1, 6), N=st.integers(1, 7), seed=st.integers(0, 2**16))
def test_raster_grid_layout(D, L, N, seed):
    gen = torch.Generator().manual_seed(seed)
    spikes = torch.randint(-1, 2, (D, L, N), generator=gen).float()
    grid = raster_grid(spikes)
    assert grid.shape == (N, L * D)
    for i in range(D):
        for t in range(L):
            assert torch.equal(grid[:, t * D + i], spikes[i, t].to(torch.int8))


def test_raster_rejects_non_spikes():
    with pytest.raises(ValueError, match="-1, 0, 1"):
        raster_grid(torch.full((2, 3, 4), 2.0))
    with pytest.raises(ValueError, match=r"\[D, L, N\]"):
        raster_grid(torch.zeros(3, 4))


def test_plot_rasters_json_is_what_was_drawn(tmp_path):
    torch.manual_seed(0)
    panels = {"a": torch.randint(-1, 2, (4, 5, 10)).float(), "b": torch.randint(0, 2, (1, 5, 3)).float()}
    png, js = plot_rasters(panels, tmp_path / "r.png", max_neurons=6)
    numbers = json.loads(js.read_text())["panels"]
    assert png.stat().st_size > 1000
    a = numbers["a"]
    assert torch.equal(torch.tensor(a["grid"], dtype=torch.int8), raster_grid(panels["a"][..., :6]))
    assert a["positive_spikes"] == int(panels["a"].eq(1).sum()) and a["negative_spikes"] == int(panels["a"].eq(-1).sum())
    assert a["spikes_per_token"] == panels["a"].abs().sum((0, 2)).long().tolist()
    assert numbers["b"]["neurons_shown"] == 3 and numbers["b"]["negative_spikes"] == 0


def _rounded_count(x, kind, D):
    """Independent oracle for the integer outputs: round half away from zero, clip (ARCHITECTURE.md)."""
    if kind == "lif":
        return (x >= 1).float()
    a = x.abs() if kind == "tilif" else x.clamp(min=0)
    m = torch.floor(a + 0.5).clamp(max=D)
    return torch.sign(x) * m if kind == "tilif" else m


def test_neuron_demo_cli(tmp_path, capsys):
    assert main(["neuron-demo", "--out", str(tmp_path), "--tokens", "6", "--channels", "10", "--seed", "3"]) == 0
    assert "tilif" in capsys.readouterr().out
    summary = json.loads((tmp_path / "neurons.json").read_text())
    drawn = json.loads((tmp_path / "neuron_raster.json").read_text())["panels"]
    x = torch.tensor(summary["input"])
    for (kind, r), panel in zip(summary["neurons"].items(), drawn.values()):
        q = torch.tensor(r["integer_output"], dtype=torch.float32)
        assert torch.equal(q, _rounded_count(x, kind, r["D"])), kind
        assert r["spikes_sum_to_integer_output"] and r["ac_count"] == r["ac_expected"] == q.abs().sum() * 16
        assert r["firing_rate"] == pytest.approx(float(q.abs().sum()) / (6 * 10 * r["D"]))
        assert r["max_abs_diff_spike_vs_dense_linear"] < 1e-4
        grid = torch.tensor(panel["grid"], dtype=torch.float32)  # [N, L·D]
        per_token = grid.reshape(10, 6, r["D"]).sum(-1).t()  # signed spikes summed over micro-steps: [L, N]
        assert torch.equal(per_token, q)
        assert panel["negative_spikes"] == r["negative_spikes"] == int(q.clamp(max=0).abs().sum())
    assert summary["neurons"]["lif"]["D"] == 1 and summary["neurons"]["ilif"]["negative_spikes"] == 0
    assert summary["neurons"]["tilif"]["negative_spikes"] > 0


def test_raster_counts_what_it_draws_and_records_tokens(tmp_path):
    """A subset of neurons drawn: the panel's drawn counts are over that subset, the JSON lists the neurons,
    the tokens (ids and text) and the source."""
    torch.manual_seed(1)
    spikes = torch.randint(-1, 2, (2, 3, 10)).float()
    png, js = plot_rasters({"layer 0 · u": spikes}, tmp_path / "r.png", max_neurons=4, token_text=["a", " b", "\n"],
                           token_ids=[97, 32, 10], caption="u: the input of in_proj", source="ckpt/x")
    numbers = json.loads(js.read_text())
    panel = numbers["panels"]["layer 0 · u"]
    assert panel["neurons_drawn"] == [0, 1, 2, 3]
    assert panel["positive_spikes_drawn"] == int(spikes[..., :4].eq(1).sum()) != panel["positive_spikes"]
    assert panel["negative_spikes_drawn"] == int(spikes[..., :4].eq(-1).sum())
    assert numbers["token_text"] == ["a", " b", "\n"] and numbers["token_ids"] == [97, 32, 10]
    assert numbers["source"] == "ckpt/x"


def test_raster_cli_labels_tokens_with_text(checkpoints, tmp_path):
    assert main(["raster", "--model", str(checkpoints["tilif"]), "--prompt", "Let there", "--out", str(tmp_path),
                 "--max-neurons", "8"]) == 0
    numbers = json.loads((tmp_path / "raster.json").read_text())
    assert numbers["token_text"] == list("Let there") and numbers["token_ids"] == list(b"Let there")
    assert numbers["source"] == str(checkpoints["tilif"])
    assert numbers["panels"]["layer 0 · y"]["neurons_drawn"] == list(range(8))
