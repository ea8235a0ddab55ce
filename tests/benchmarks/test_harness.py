"""The benchmark harness: interleaving, statistics, results I/O, byte counting. No timed assertions."""

import json

import pytest
import torch
from torch import nn

from benchmarks import harness
from benchmarks.decode import agreeing_prefix, greedy, weight_bytes
from benchmarks.results import Result, markdown_table, write_json
from benchmarks.spike_driven import firing_rate

CPU = torch.device("cpu")


def test_interleaved_times_reverses_the_order_every_repetition_after_warmup():
    calls = []
    sides = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    times = harness.interleaved_times(sides, repetitions=3, device=CPU, warmup=1)
    assert calls == list("abc") + list("abc") + list("cba") + list("abc")
    assert list(times) == list("abc") and all(len(t) == 3 for t in times.values())


def test_interleaved_times_keeps_each_repetition_with_its_side(monkeypatch):
    # a fake clock: each call returns the next duration; rep 0 runs a, b; rep 1 b, a; rep 2 a, b
    durations = iter([3, 2, 1, 6, 3, 2])
    monkeypatch.setattr(harness, "time_once", lambda fn, device: next(durations))
    times = harness.interleaved_times({"a": lambda: None, "b": lambda: None}, 3, CPU, warmup=0)
    assert times == {"a": [3, 6, 3], "b": [2, 1, 2]}
    assert harness.ratios(times["a"], times["b"]) == [1.5, 6.0, 1.5]


def test_interleaved_times_rejects_zero_repetitions():
    with pytest.raises(ValueError, match="repetitions"):
        harness.interleaved_times({"a": lambda: None}, repetitions=0, device=CPU)


def test_result_median_spread_and_targets():
    r = Result.from_samples("x", [3.0, 1.0, 2.0, 10.0], "<= 2.5", "tiny", seconds=[1])
    assert (r.value, r.spread, r.repetitions) == (2.5, [1.0, 10.0], 4)
    assert r.met is True
    assert Result.from_samples("x", [2.6], "<= 2.5", "tiny").met is False
    assert Result.from_samples("x", [2.0], ">= 2.0", "tiny").met is True
    assert Result.from_samples("x", [1.9], ">= 2.0", "tiny").met is False
    assert Result.from_samples("x", [1.9], "", "tiny").met is None
    with pytest.raises(ValueError, match="target"):
        _ = Result.from_samples("x", [1.0], "== 1", "tiny").met
    with pytest.raises(ValueError, match="no samples"):
        Result.from_samples("x", [], "", "tiny")


def test_results_json_and_table(tmp_path):
    results = [Result.from_samples("fast", [2.5, 2.1], ">= 2.0", "shape a"),
               Result.from_samples("slow", [1.5], "<= 1.25", "shape b", seconds=0.1),
               Result.from_samples("info", [4.0], "", "shape c")]
    path = tmp_path / "sub" / "results.json"
    write_json(results, path)
    loaded = json.loads(path.read_text())
    assert [r["name"] for r in loaded] == ["fast", "slow", "info"]
    for row in loaded:
        assert {"name", "value", "target", "shape", "repetitions", "spread"} <= row.keys()
    assert loaded[1]["detail"] == {"seconds": 0.1} and loaded[0]["spread"] == [2.1, 2.5]
    assert list(path.parent.iterdir()) == [path]  # no temp file left behind
    table = markdown_table(results).splitlines()
    assert len(table) == 2 + 3
    assert "| yes |" in table[2] and "**no**" in table[3] and "| – |" in table[4]


def test_copy_bandwidth_copies_and_counts_read_plus_written_bytes():
    copy = harness.CopyBandwidth(CPU, nbytes=2**20, copies=2)
    copy.dst.zero_()
    copy()
    assert torch.equal(copy.dst, copy.src) and copy.bytes_moved == 2 * 2 * 2**20


def test_weight_bytes_counts_tied_weights_once():
    model = nn.Module()
    model.embedding = nn.Embedding(10, 4)
    model.head = nn.Linear(4, 10, bias=False)
    model.head.weight = model.embedding.weight
    model.norm = nn.LayerNorm(4)  # weight + bias
    assert weight_bytes(model) == (40 + 4 + 4) * 4


class _FakeGenerator:
    def __init__(self, extra):
        self.extra = extra

    def generate(self, prompt, max_new_tokens, do_sample):
        assert do_sample is False
        return torch.cat([prompt, torch.zeros(1, max_new_tokens + self.extra, dtype=prompt.dtype)], 1)


def test_greedy_insists_on_exactly_max_new_tokens():
    prompt = torch.ones(1, 3, dtype=torch.long)
    assert greedy(_FakeGenerator(0), prompt, 5)().shape == (1, 8)
    with pytest.raises(RuntimeError, match="exactly max_new_tokens"):
        greedy(_FakeGenerator(-1), prompt, 5)()


def test_agreeing_prefix_and_firing_rate():
    a = torch.tensor([[1, 2, 3, 4]])
    assert agreeing_prefix(a, a) == 4
    assert agreeing_prefix(a, torch.tensor([[1, 2, 0, 4]])) == 2
    q = torch.tensor([[0.0, -4.0], [1.0, 3.0]])  # 8 spikes in 4 neurons x D=4 micro-steps
    assert firing_rate(q, 4) == 0.5


def test_a_skipped_figure_has_no_value_and_says_why(tmp_path):
    r = Result.skipped("decode_event_vs_llamacpp", ">= 1.0", "skipped: no llama.cpp build")
    assert r.value is None and r.met is None and r.repetitions == 0 and r.detail["skipped"] == r.shape
    assert "| `decode_event_vs_llamacpp` | – |" in markdown_table([r])
    write_json([r], tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())[0]["value"] is None
    assert Result.from_samples("x", [0.5], "< 1", "").met and not Result.from_samples("x", [1.0], "< 1", "").met
