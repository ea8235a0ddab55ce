"""Checkpoints, resume and the final export: a run that dies after logging step 2 (before saving it) and
resumes from its step-1 checkpoint ends bitwise equal (fp32, CPU) to an uninterrupted run, with one
metrics record per step."""
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer, TrainerCallback

from models import SpikingMambaForCausalLM
from pipelines.metrics import read_metrics
from pipelines.rl.train import run
from rl_helpers import make_config
from models.sgc import is_sgc_key


class Crash(Exception):
    pass


class CrashAfterStep(TrainerCallback):
    """Dies once step ``step`` is logged (after the metrics writer, which is registered first)."""

    def __init__(self, step):
        self.step = step

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.global_step == self.step:
            raise Crash(f"simulated crash after step {self.step}")


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, policy_dir, dpo_file):
    settings = dict(max_steps=2, save_every=1, keep_last=1, lr=1e-3, sgc=True)
    straight = make_config(tmp_path / "a", policy_dir, dpo_file, **settings)
    summary = run(straight)
    assert summary["steps"] == 2

    interrupted = make_config(tmp_path / "b", policy_dir, dpo_file, **settings)
    with pytest.raises(Crash):
        run(interrupted, callbacks=(CrashAfterStep(2),))
    out = tmp_path / "b" / "run"
    assert [r["step"] for r in read_metrics(out)] == [1, 2]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000001"]
    with pytest.raises(FileExistsError, match="holds another run"):
        run(interrupted)  # a new run may not overwrite it
    resumed = run(make_config(tmp_path / "b", policy_dir, dpo_file, resume="auto", **settings))
    assert (resumed["start_step"], resumed["steps"]) == (1, 2)

    # metrics: steps 1-2 once each (step 2 of the crashed run replaced), equal to the straight run's
    records_a, records_b = read_metrics(tmp_path / "a" / "run"), read_metrics(out)
    assert [r["step"] for r in records_b] == [1, 2]
    assert [r["loss"] for r in records_b] == [r["loss"] for r in records_a]

    final_a = load_file(str(tmp_path / "a" / "run" / "final" / "model.safetensors"))
    final_b = load_file(str(out / "final" / "model.safetensors"))
    assert final_a.keys() == final_b.keys()
    assert all(torch.equal(final_a[k], final_b[k]) for k in final_a)

    # checkpoints: complete training state with the SGC weights, no pickled arguments, the last one kept
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000002"]
    ckpt = out / "checkpoints" / "step-00000002"
    assert {"model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json",
            "tokenizer.json"} <= {p.name for p in ckpt.iterdir()}
    assert not (ckpt / "training_args.bin").exists()
    assert any(is_sgc_key(k) for k in load_file(str(ckpt / "model.safetensors")))

    # the export: an inference checkpoint (no SGC) with its tokenizer, equal to the trained spiking path
    assert not any(is_sgc_key(k) for k in final_b)
    exported = SpikingMambaForCausalLM.from_pretrained(str(out / "final"))
    assert exported.config.sgc_layers == [] and exported.config.neuron_in == "tilif"
    trained = load_file(str(ckpt / "model.safetensors"))
    assert all(torch.equal(v, trained[k]) for k, v in final_b.items())
    tokenizer = AutoTokenizer.from_pretrained(out / "final")
    ids = tokenizer("Q: 1+2=", return_tensors="pt").input_ids
    assert exported.generate(ids, max_new_tokens=3, do_sample=False).shape == (1, ids.shape[1] + 3)
