"""Config validation, the presets, and the command line (``python -m pipelines rl``)."""
import json
from pathlib import Path

import pytest

from pipelines.__main__ import main as pipelines_main
from pipelines.config import load_config
from pipelines.rl.config import RLConfig
from rl_helpers import PAIRS, POLICY_SHAPE, write_jsonl

CONFIGS = Path(__file__).resolve().parents[2] / "pipelines" / "configs"


def test_paper_preset_has_appendix_c_settings():
    cfg = load_config(RLConfig, CONFIGS / "rl_paper.yaml")
    assert (cfg.lr, cfg.betas, cfg.warmup_ratio, cfg.global_batch_size) == (5e-6, [0.9, 0.98], 0.01, 32)
    assert (cfg.mixed_precision, cfg.max_length, cfg.freeze_embedding) == ("bf16", 2048, True)
    assert cfg.sgc is False and RLConfig().sgc is False  # the paper's Eq 14-15: no λ·L_hidden term by default
    assert (cfg.data, cfg.train_split, cfg.eval_split) == (
        "HuggingFaceH4/ultrafeedback_binarized", "train_prefs", "test_prefs")
    assert load_config(RLConfig, CONFIGS / "rl_paper.yaml", ["loss=kto"]).loss == "kto"


@pytest.mark.parametrize("override, message", [
    (["los=kto"], r"(?s)unknown key\(s\).*'los' \(did you mean 'loss'\?\).*Valid keys: .*beta"),
    (["loss=ppo"], r"loss='ppo' has the wrong type"),
    (["loss=kto", "micro_batch_size=1", "global_batch_size=4"], r"loss=kto needs micro_batch_size >= 2"),
    (["global_batch_size=6"], r"global_batch_size=6 is not a multiple of micro_batch_size=4"),
    (["sgc=false", "sgc_init=some/checkpoint"], r"sgc=false but sgc_layers/sgc_init are set"),
    (["betas=[0.9]"], r"betas=\[0.9\] must be two numbers"),
    (["beta=0"], r"need beta > 0"),
    (["lr=0"], r"lr=0.0 must be > 0"),
])
def test_bad_settings_are_rejected(override, message):
    with pytest.raises(ValueError, match=message):
        load_config(RLConfig, CONFIGS / "rl_tiny.yaml", override)


def test_cli_reports_user_errors_without_traceback(tmp_path, capsys, policy_dir):
    assert pipelines_main(["rl", "--config", str(CONFIGS / "rl_tiny.yaml"), "lr=fast"]) == 1
    assert "lr='fast' has the wrong type" in capsys.readouterr().err
    data = write_jsonl(tmp_path / "no_rejected.jsonl", [{"prompt": "a", "chosen": "b"}] * 8)
    code = pipelines_main(["rl", "--config", str(CONFIGS / "rl_tiny.yaml"), f"policy={policy_dir}",
                           f"data={data}", f"output_dir={tmp_path / 'run'}"])
    err = capsys.readouterr().err
    assert code == 1 and "no_rejected.jsonl" in err and "['rejected']" in err and "Traceback" not in err


def test_tiny_preset_from_the_command_line(tmp_path):
    """The dispatcher, the tiny preset with its own tiny policy (policy: null), KTO on the paired file, and
    evaluation on held-out data at the end."""
    out = tmp_path / "run"
    shape = json.dumps(POLICY_SHAPE)
    held_out = write_jsonl(tmp_path / "held_out.jsonl", PAIRS[:2])
    code = pipelines_main(["rl", "--config", str(CONFIGS / "rl_tiny.yaml"), "loss=kto", "max_steps=1",
                           "global_batch_size=4", "micro_batch_size=2", f"tiny_policy={shape}",
                           f"eval_data={held_out}", f"output_dir={out}", "tensorboard=false"])
    assert code == 0
    assert (out / "final" / "model.safetensors").is_file() and (out / "final" / "tokenizer.json").is_file()
    train, evaluation = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert train["step"] == 1 and {"loss", "loss_kto", "kl", "learning_rate"} <= set(train)
    assert "loss_hidden" not in train  # the preset's plain KTO (Eq 15)
    assert evaluation["step"] == 1 and {"eval_loss", "eval_loss_kto", "eval_kl"} <= set(evaluation)
    assert (out / "checkpoints" / "step-00000001").is_dir() and (out / "config.yaml").is_file()
