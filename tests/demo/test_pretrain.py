"""Teacher pretraining (the distillation pipeline with objective ce): learns, is bitwise reproducible,
and leaves one complete loadable directory."""
import json
import shutil

import pytest
import torch

from pipelines.demo.prepare import DemoData
from pipelines.demo.recipe import DEFAULT
from pipelines.demo.training import pretrain_teacher, teacher_config
from pipelines.metrics import read_metrics

TINY = DEFAULT.override(
    seq_len=32,
    teacher={"tiny_teacher": {"d_model": 32, "n_layer": 2, "d_state": 8, "headdim": 8, "chunk_size": 16},
             "global_batch_size": 8, "micro_batch_size": 4, "max_steps": 16, "lr": 1e-2, "log_every": 4,
             "eval_every": 8, "eval_sequences": 4})


@pytest.fixture(scope="module")
def small_data(demo_data, tmp_path_factory):
    """The first 40 training and 4 held-out chapters of the demo's data, with its tokenizer."""
    root = tmp_path_factory.mktemp("small")
    for split, n in (("train", 40), ("heldout", 4)):
        lines = getattr(demo_data, split).read_text().splitlines()[:n]
        (root / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    shutil.copytree(demo_data.tokenizer, root / "tokenizer")
    return DemoData(root, {"vocab": demo_data.manifest["vocab"]})


def train(small_data, run_dir, recipe=TINY):
    """The teacher stage into ``run_dir``; returns ``run_dir`` (the teacher is its final/)."""
    pretrain_teacher(teacher_config(recipe, small_data, run_dir, str(small_data.root / "datasets")))
    return run_dir


@pytest.fixture(scope="module")
def teacher(small_data, tmp_path_factory):
    return train(small_data, tmp_path_factory.mktemp("t") / "teacher")


def test_loss_decreases_and_metrics_are_written(teacher):
    records = read_metrics(teacher)
    assert [r["step"] for r in records] == [4, 8, 12, 16]
    assert records[-1]["loss"] < records[0]["loss"] - 0.5
    held = [r["heldout_loss"] for r in records if "heldout_loss" in r]
    assert len(held) == 2 and held[1] < held[0] and held[0] < 7.7   # below uniform: ln(2048) = 7.62 + init noise
    assert all(r["loss"] == r["loss_ce"] and r["loss_hidden"] == 0 for r in records)   # no SGC: L = CE


def test_result_loads_as_a_plain_mamba2_teacher(teacher, demo_data):
    from transformers import AutoTokenizer

    from models import SpikingMambaForCausalLM

    model = SpikingMambaForCausalLM.from_pretrained(str(teacher / "final")).eval()
    cfg = model.config
    assert (cfg.neuron_in, cfg.neuron_out, cfg.sgc_layers) == ("none", "none", [])
    assert (cfg.d_model, cfg.n_layer, cfg.vocab_size, cfg.eos_token_id) == (32, 2, 2048, 0)
    tok = AutoTokenizer.from_pretrained(teacher / "final")
    assert tok.get_vocab() == AutoTokenizer.from_pretrained(demo_data.tokenizer).get_vocab()
    assert not list(teacher.glob(".*tmp*")) and not list((teacher / "checkpoints").glob(".*"))   # staging gone


def test_embedding_is_trained(teacher):
    """freeze_embedding: false — pretraining trains the embedding the students then keep frozen."""
    from safetensors.torch import load_file

    start = torch.load(teacher / "tiny_teacher/pytorch_model.bin", weights_only=True)   # the random init
    trained = load_file(teacher / "final/model.safetensors")
    assert not torch.equal(start["backbone.embedding.weight"], trained["backbone.embedding.weight"])


def test_bitwise_reproducible(teacher, small_data, tmp_path):
    """Whatever the caller's thread count (the module fixture ran at torch's default): the stage pins its own."""
    from safetensors.torch import load_file

    torch.set_num_threads(2)
    again = train(small_data, tmp_path / "again")
    a, b = load_file(teacher / "final/model.safetensors"), load_file(again / "final/model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    config = [json.loads((run / "final/config.json").read_text()) for run in (teacher, again)]
    assert config[0] == config[1]


def test_rerun_replaces_the_directory(small_data, tmp_path):
    out = tmp_path / "t"
    out.mkdir()
    (out / "stale.txt").write_text("old run")
    train(small_data, out, TINY.override(teacher={"max_steps": 2, "log_every": 1}))
    assert not (out / "stale.txt").exists() and [r["step"] for r in read_metrics(out)] == [1, 2]
