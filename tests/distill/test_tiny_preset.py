"""The tiny preset end to end: loss goes down, a user sees metrics/config/checkpoints, and final/ is an
inference checkpoint that SpikingMambaForCausalLM and AutoTokenizer load and that generates."""

import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import AutoTokenizer

from distill_helpers import TINY, run_in_process, run_preset
from models import SpikingMambaForCausalLM
from pipelines.config import config_to_dict
from pipelines.data import DEFAULT_CHAT_TEMPLATE
from pipelines.metrics import read_metrics
from models.sgc import is_sgc_key


def test_tiny_preset(tmp_path):
    """One run of the preset (the checks share it: a run is the expensive part)."""
    out = tmp_path / "tiny_preset"
    cfg, seconds = run_preset(TINY, out)
    check_loss_decreases_over_30_steps(cfg, out, seconds)
    check_user_sees_resolved_config_checkpoints_and_tensorboard(cfg, out)
    check_final_export_loads_and_generates_without_sgc(out)


def check_loss_decreases_over_30_steps(cfg, out, seconds):
    records = read_metrics(out)
    assert [r["step"] for r in records] == list(range(1, 31))
    loss = [r["loss"] for r in records]
    for r in records:
        assert r["loss"] == pytest.approx(r["loss_kl"] + cfg.hidden_weight * r["loss_hidden"], rel=1e-5)
        assert r["tokens_per_s"] > 0 and r["loss_hidden"] > 0
    first, last = sum(loss[:5]) / 5, sum(loss[-5:]) / 5
    print(f"tiny preset: {seconds:.1f} s; loss first5 {first:.5f} last5 {last:.5f}; "
          f"curve {[round(v, 5) for v in loss]}")
    assert last < 0.75 * first
    assert seconds < 120  # the preset promises under 2 minutes on a CPU
    assert records[-1]["tokens_seen"] == 30 * 8 * 64


def check_user_sees_resolved_config_checkpoints_and_tensorboard(cfg, out):
    assert yaml.safe_load((out / "config.yaml").read_text()) == config_to_dict(cfg)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000020", "step-00000030"]
    assert any((out / "tensorboard").iterdir())
    with pytest.raises(FileExistsError, match="holds another run"):
        run_in_process(cfg)


def check_final_export_loads_and_generates_without_sgc(out):
    final = out / "final"
    model = SpikingMambaForCausalLM.from_pretrained(str(final))
    tokenizer = AutoTokenizer.from_pretrained(str(final))
    assert model.config.neuron_in == "tilif" and model.config.sgc_layers == []
    assert tokenizer.chat_template == DEFAULT_CHAT_TEMPLATE  # the format chat data was rendered in travels along
    saved = load_file(final / "model.safetensors")
    trained = load_file(out / "checkpoints/step-00000030/model.safetensors")
    assert any(is_sgc_key(k) for k in trained) and not any(is_sgc_key(k) for k in saved)
    for key, value in saved.items():  # the export is the trained student, minus SGC
        assert torch.equal(value, trained[key]), key
    ids = tokenizer("A spiking neuron", return_tensors="pt")["input_ids"]
    out_ids = model.generate(ids, max_new_tokens=8, do_sample=False)
    assert out_ids.shape == (1, ids.shape[1] + 8) and torch.equal(out_ids[:, : ids.shape[1]], ids)
    # greedy generation with the cache equals the argmax of full forwards (no cache)
    x = ids
    for _ in range(8):
        x = torch.cat([x, model(x).logits[:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(out_ids, x)
    assert isinstance(tokenizer.decode(out_ids[0]), str)
