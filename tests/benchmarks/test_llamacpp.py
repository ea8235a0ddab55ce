"""benchmarks.llamacpp: a clear "skipped: <reason>" without a build, llama-bench's JSON read right
(with a stand-in binary), and — where $SPIKINGMAMBA_LLAMACPP names a build — a real conversion and
decode at a tiny shape."""

import json
import os
import stat
from pathlib import Path

import pytest

from benchmarks import llamacpp
from benchmarks.checkpoints import save_reference
from benchmarks.shapes import ModelShape

TINY = ModelShape(d_model=64, n_layer=2, d_state=16, headdim=16, expand=2, n_groups=1, vocab_size=256)


def fake_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "llama.cpp"
    (tree / "gguf-py").mkdir(parents=True)
    (tree / "convert_hf_to_gguf.py").write_text("")
    return tree


def test_skips_with_a_reason_when_there_is_no_build(tmp_path, monkeypatch):
    monkeypatch.delenv(llamacpp.ENV_TREE, raising=False)
    monkeypatch.delenv(llamacpp.ENV_BENCH, raising=False)
    assert llamacpp.prepare(tmp_path, tmp_path).startswith("skipped: no llama.cpp build")
    assert "not a llama.cpp source tree" in llamacpp.prepare(tmp_path, tmp_path, llamacpp=tmp_path)
    assert "no llama-bench executable" in llamacpp.prepare(tmp_path, tmp_path, llamacpp=fake_tree(tmp_path))
    assert llamacpp.main([]).startswith("skipped: ")


def test_reads_llama_bench_samples(tmp_path):
    binary = tmp_path / "llama-bench"
    output = [{"build_commit": "abc", "build_number": 1, "cpu_info": "cpu", "model_type": "mamba2 F32",
               "model_size": 10, "samples_ts": [17.5, 16.8, 17.1]}]
    binary.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path / 'args'}\ncat <<'EOF'\n{json.dumps(output)}\nEOF\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    tree = fake_tree(tmp_path)
    assert llamacpp.locate(tree, binary) == (tree, binary)
    bench = llamacpp.LlamaBench(binary, tmp_path / "m.gguf", threads=1, n_gen=128)
    assert bench.measure(3) == [17.5, 16.8, 17.1]
    assert (tmp_path / "args").read_text().split() == ["-m", str(tmp_path / "m.gguf"), "-p", "0", "-n", "128",
                                                        "-t", "1", "-r", "3", "-o", "json"]
    assert bench() == 17.5 and bench.detail["build_commit"] == "abc"


@pytest.mark.skipif(not os.environ.get(llamacpp.ENV_TREE), reason=f"${llamacpp.ENV_TREE} not set (no llama.cpp build)")
def test_real_llama_cpp_decodes_the_converted_checkpoint(tmp_path):
    checkpoint = save_reference(TINY, tmp_path / "checkpoint", seed=0)
    bench = llamacpp.prepare(checkpoint, tmp_path, n_gen=8)
    assert not isinstance(bench, str), bench
    samples = bench.measure(1)
    assert len(samples) == 1 and samples[0] > 0
    assert "mamba2" in bench.detail["model_type"] and "F32" in bench.detail["model_type"]
