"""`python -m benchmarks` end to end at a tiny shape: every figure is produced, well formed and
finite (decode_event_vs_llamacpp: skipped with its reason where no llama.cpp build is set up). Values
are not checked (timings are not test material)."""

import dataclasses
import json
import math

import torch

from benchmarks.__main__ import GROUPS, main, run
from benchmarks.results import write_json
from benchmarks.shapes import BenchShapes, ModelShape

TINY = BenchShapes(
    model=ModelShape(d_model=32, n_layer=2, d_state=16, headdim=16, expand=2, n_groups=1, vocab_size=128),
    train_batch=1, train_len=16, train_reps=1,
    prompt_len=4, new_tokens=4, decode_reps=1,
    memory_short=4, memory_long=8,
    spike_len=8, spike_reps=1,
    sgc_layers=2,  # first, middle, last of 2 layers = {0, 1}
)

LARGE = dataclasses.replace(TINY, model=dataclasses.replace(TINY.model, d_model=64, n_layer=3))

NAMES = ["train_step_ratio", "train_step_ratio_nosgc", "decode_speedup_vs_transformers",
         "decode_tilif_vs_none", "decode_roofline_fraction", "decode_event_vs_teacher",
         "decode_event_vs_transformers", "decode_event_bytes_fraction", "spike_driven_cost",
         "decode_event_vs_llamacpp", "decode_memory_growth", "spike_linear_vs_dense_in",
         "spike_linear_vs_dense_out", "spike_driven_cost_prefill", "decode_event_vs_teacher_1b3"]


def test_every_figure_is_produced_and_well_formed(tmp_path, monkeypatch):
    monkeypatch.delenv("SPIKINGMAMBA_LLAMACPP", raising=False)  # the llama.cpp figure: skipped, with its reason
    results = run(TINY, list(GROUPS), torch.device("cpu"), LARGE, layers_1b3=2)
    assert [r.name for r in results] == NAMES
    for r in results:
        if r.name == "decode_event_vs_llamacpp":
            assert r.value is None and r.met is None and r.detail["skipped"].startswith("skipped: no llama.cpp")
            continue
        assert math.isfinite(r.value) and r.value > 0, r
        assert r.repetitions >= 1 and r.spread[0] <= r.value <= r.spread[1], r
        assert r.target == "" or r.met in (True, False)
    decode = {r.name: r for r in results}["decode_speedup_vs_transformers"]
    # both sides load one checkpoint: greedy decoding agrees token for token at this size
    assert decode.detail["agreeing_new_tokens"] == TINY.new_tokens
    by_name = {r.name: r for r in results}
    for name in ("decode_event_vs_teacher", "decode_event_bytes_fraction", "decode_event_vs_teacher_1b3"):
        rates = by_name[name].detail["firing_rates_decoded"]  # measured in the run, printed in the shape
        assert set(rates) == {"in", "out"} and f"fr_in {rates['in']:.4f}" in by_name[name].shape
    step = by_name["decode_event_bytes_fraction"].detail["step_bytes"]
    assert 0 < step["projection_weights_read"] <= step["projection_weights_dense"] and step["state"] > 0
    assert "only 2 of the shape's 3 layers" in by_name["decode_event_vs_teacher_1b3"].shape
    memory = by_name["decode_memory_growth"]
    assert memory.detail["long"]["peak"] > 0 and memory.detail["short"]["peak"] > 0
    write_json(results, tmp_path / "results.json")
    assert len(json.loads((tmp_path / "results.json").read_text())) == len(NAMES)


def test_cli_rejects_bad_threads(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["--threads", "0"])
    assert "--threads must be >= 1" in capsys.readouterr().err
