"""Config loading, overrides and validation; the presets hold Appendix C's settings."""
import dataclasses

import pytest
import yaml

from hypothesis import given
from hypothesis import strategies as st

from pipelines.config import load_config, parse_overrides, yaml_load
from pipelines.distill import cli
from pipelines.distill.config import DistillConfig

TINY = "pipelines/configs/distill_tiny.yaml"


def test_overrides_are_parsed_as_yaml():
    assert parse_overrides(["lr=3e-4", "betas=[0.9, 0.95]", "teacher=null", "sgc_layers=[0,3]", "name=a=b"]) == {
        "lr": 3e-4, "betas": [0.9, 0.95], "teacher": None, "sgc_layers": [0, 3], "name": "a=b"}
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["lr"])


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_yaml_reads_every_python_float_spelling_as_that_float(x):
    assert yaml_load(repr(x)) == x and yaml_load(f"{x:e}") == float(f"{x:e}")  # oracle: Python's float()


def test_yaml_no_and_yes_stay_strings():
    assert parse_overrides(["mixed_precision=no", "a=yes", "b=off", "c=true", "d=False"]) == {
        "mixed_precision": "no", "a": "yes", "b": "off", "c": True, "d": False}
    assert load_config(DistillConfig, TINY, ["mixed_precision=no"]).mixed_precision == "no"


def test_overrides_win_over_the_file_and_ints_become_floats():
    assert load_config(DistillConfig, TINY, ["lr=3e-4"]).lr == 3e-4  # YAML 1.1 would read a string
    cfg = load_config(DistillConfig, TINY, ["lr=1", "max_steps=7", "resume=auto", "sgc_layers=[1]"])
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float) and cfg.max_steps == 7
    assert cfg.resume == "auto" and cfg.sgc_layers == [1] and cfg.seq_len == 64


def test_unknown_keys_list_the_valid_ones(tmp_path):
    with pytest.raises(ValueError) as err:
        load_config(DistillConfig, TINY, ["lrr=1e-3"])
    msg = str(err.value)
    assert "'lrr' (did you mean 'lr'?)" in msg and "Valid keys:" in msg and "global_batch_size" in msg
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"datasets": ["x.txt"], "warmup_steps": 5}))
    with pytest.raises(ValueError, match=r"unknown key\(s\) in .*bad.yaml: 'warmup_steps'"):
        load_config(DistillConfig, bad)


@pytest.mark.parametrize("override, message", [
    ("lr=fast", "lr='fast' has the wrong type; expected float"),
    ("neuron=relu", "neuron='relu' has the wrong type"),
    ("max_steps=1.5", "max_steps=1.5 has the wrong type"),
    ("resume=maybe", "resume='maybe' has the wrong type"),
    ("betas=[0.9]", "betas=[0.9] must be two numbers"),
    ("global_batch_size=0", "global_batch_size=0 must be >= 1"),
    ("warmup_ratio=1.5", "warmup_ratio=1.5 must be in"),
    ("datasets=[]", "datasets is empty"),
    ("pseudo_labels=true", "max_new_tokens=1024 must be < seq_len=64"),
    ("pseudo_label_batch_size=0", "pseudo_label_batch_size=0 must be >= 1"),
    ("objective=mse", "objective='mse' has the wrong type"),
    ("eval_every=0", "eval_every=0 must be >= 1"),
    ("eval_every=5", "eval_every=5 but eval_datasets is empty"),
    ("eval_sequences=0", "eval_sequences=0 must be >= 1"),
])
def test_bad_values_are_rejected_with_the_key_and_the_fix(override, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(DistillConfig, TINY, [override])


def test_ce_objective_has_no_teacher_to_make_pseudo_labels():
    with pytest.raises(ValueError, match="pseudo_labels=true needs the teacher"):
        load_config(DistillConfig, TINY, ["objective=ce", "pseudo_labels=true", "max_new_tokens=8"])


def test_cli_prints_the_error_without_traceback(capsys):
    assert cli.main(["--config", TINY, "lrr=1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unknown key(s)") and "Traceback" not in err
    assert cli.main(["--config", "no/such.yaml"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_help_lists_every_key(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert all(f"  {f.name} (default" in out for f in dataclasses.fields(DistillConfig))


@pytest.mark.parametrize("size", ["1.3b", "130m"])
def test_paper_presets_hold_appendix_c(size):
    cfg = load_config(DistillConfig, f"pipelines/configs/paper_{size}.yaml")
    assert cfg.teacher == f"state-spaces/mamba2-{size}" and cfg.tokenizer == "EleutherAI/gpt-neox-20b"
    appendix_c = ([0.9, 0.98], 1e-3, 0.01, 32, 2048)
    assert (cfg.betas, cfg.lr, cfg.warmup_ratio, cfg.global_batch_size, cfg.seq_len) == appendix_c
    assert (cfg.mixed_precision, cfg.num_epochs, cfg.max_steps, cfg.sgc_layers) == ("bf16", 1, None, None)
    assert (cfg.neuron, cfg.hidden_weight, cfg.kl_temperature) == ("tilif", 1.0, 1.0)
    names = [d["path"] for d in cfg.datasets]
    assert names == ["tomg-group-umd/GenQA", "BAAI/Infinity-Instruct", "teknium/OpenHermes-2.5"]
    # §4.3: SFT on the teacher's greedy responses to the instruction prompts
    assert (cfg.pseudo_labels, cfg.pseudo_label_sampling, cfg.max_new_tokens) == (True, "greedy", 1024)


def test_accelerate_configs_parse_and_fit_the_model():
    """accelerate's own parser accepts the shipped launch configs (GPU-only engines: not run here)."""
    from accelerate.commands.config.config_args import ClusterConfig

    from models.modeling import Mamba2Block

    configs = {name: ClusterConfig.from_yaml_file(f"pipelines/accelerate/{name}.yaml")
               for name in ("multi_gpu", "deepspeed_zero3", "fsdp")}
    assert [c.distributed_type.value for c in configs.values()] == ["MULTI_GPU", "DEEPSPEED", "FSDP"]
    assert configs["deepspeed_zero3"].deepspeed_config["zero_stage"] == 3
    assert configs["deepspeed_zero3"].deepspeed_config["zero3_save_16bit_model"] is True
    assert configs["fsdp"].fsdp_config["fsdp_transformer_layer_cls_to_wrap"] == Mamba2Block.__name__
