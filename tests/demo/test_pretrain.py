"""Teacher pretraining: learns, is bitwise reproducible, and leaves one complete loadable directory."""
import json

import pytest
import torch

from pipelines.demo.pretrain import TeacherConfig, pretrain_teacher
from pipelines.metrics import read_metrics

TINY = TeacherConfig(d_model=32, n_layer=2, d_state=8, headdim=8, chunk_size=16, seq_len=32, global_batch_size=8,
                     micro_batch_size=4, max_steps=16, lr=1e-2, log_every=4, eval_every=8, eval_sequences=4)


@pytest.fixture(scope="module")
def small_files(demo_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("small")
    for split, n in (("train", 40), ("heldout", 4)):
        lines = getattr(demo_data, split).read_text().splitlines()[:n]
        (root / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    return root


def train(small_files, demo_data, out, cfg=TINY):
    return pretrain_teacher(cfg, small_files / "train.jsonl", small_files / "heldout.jsonl", demo_data.tokenizer,
                            out, data_cache_dir=str(small_files / "datasets"), progress=False)


@pytest.fixture(scope="module")
def teacher(small_files, demo_data, tmp_path_factory):
    return train(small_files, demo_data, tmp_path_factory.mktemp("t") / "teacher")


def test_loss_decreases_and_metrics_are_written(teacher):
    records = read_metrics(teacher)
    assert [r["step"] for r in records] == [4, 8, 12, 16]
    assert records[-1]["loss"] < records[0]["loss"] - 0.5
    held = [r["heldout_loss"] for r in records if "heldout_loss" in r]
    assert len(held) == 2 and held[1] < held[0] and held[0] < 7.7   # below uniform: ln(2048) = 7.62 + init noise


def test_result_loads_as_a_plain_mamba2_teacher(teacher, demo_data):
    from transformers import AutoTokenizer

    from models import SpikingMambaForCausalLM

    model = SpikingMambaForCausalLM.from_pretrained(str(teacher)).eval()
    cfg = model.config
    assert (cfg.neuron_in, cfg.neuron_out, cfg.sgc_layers) == ("none", "none", [])
    assert (cfg.d_model, cfg.n_layer, cfg.vocab_size, cfg.eos_token_id) == (32, 2, 2048, 0)
    tok = AutoTokenizer.from_pretrained(teacher)
    assert tok.get_vocab() == AutoTokenizer.from_pretrained(demo_data.tokenizer).get_vocab()
    assert not list(teacher.parent.glob(".*tmp*"))          # the staging directory is gone


def test_bitwise_reproducible(teacher, small_files, demo_data, tmp_path):
    from safetensors.torch import load_file

    again = train(small_files, demo_data, tmp_path / "again")
    a, b = load_file(teacher / "model.safetensors"), load_file(again / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((teacher / "config.json").read_text()) == json.loads((again / "config.json").read_text())


def test_rerun_replaces_the_directory(teacher, small_files, demo_data, tmp_path):
    out = tmp_path / "t"
    out.mkdir()
    (out / "stale.txt").write_text("old run")
    train(small_files, demo_data, out, TeacherConfig(**{**TINY.__dict__, "max_steps": 2, "log_every": 1}))
    assert not (out / "stale.txt").exists() and [r["step"] for r in read_metrics(out)] == [1, 2]
