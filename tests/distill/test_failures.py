"""Bad inputs and faults of the training command lines (issue 16): each is one ``error:`` line naming the file
or value and the fix; the run's state stays usable (checkpoints intact, the advice followable)."""
import errno
import json
import os
import re

import pytest
import torch
from safetensors.torch import save_file

from pipelines.checkpointing import CheckpointManager, checkpoint_step, claim_output_dir, lock_output_dir
from pipelines.config import load_config, normalize_flags
from pipelines.data import DataSource, load_records
from pipelines.distill import cli
from pipelines.distill.config import DistillConfig
from pipelines.metrics import read_metrics
from pipelines.tiny import ensure_tiny_teacher

from distill_helpers import REPO, SMALL, TEACHER_SHAPE, TINY, run_in_process, small_config


def error_line(capsys, argv) -> str:
    """Run the distill command line; it must fail with exactly one ``error:`` line on stderr."""
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.parametrize("text, where", [("lr: [1,\nseq_len: 3\n", "line 3, column 1"),
                                         ("a: b: c\n", "line 1, column 5")])
def test_malformed_yaml_file_names_line_and_column(tmp_path, capsys, text, where):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    line = error_line(capsys, ["--config", str(bad)])
    assert str(bad) in line and f"is not valid YAML at {where}" in line


def test_malformed_override_and_binary_config(tmp_path, capsys):
    assert "override 'betas=[0.9' is not valid YAML at line 1, column 5" in error_line(
        capsys, ["--config", TINY, "betas=[0.9"])
    binary = tmp_path / "x.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    assert "is not text; give a YAML file" in error_line(capsys, ["--config", str(binary)])
    line = error_line(capsys, ["--config", str(tmp_path)])
    assert f"config file '{tmp_path}' is a directory; give a YAML file" in line


def test_hf_style_flags_are_overrides():
    assert normalize_flags(DistillConfig, ["--lr", "3e-4", "--max-steps=7", "--cpu", "--config", "a.yaml",
                                           "seed=1", "--resume"], {"config", "resume"}) == [
        "lr=3e-4", "max_steps=7", "cpu=true", "--config", "a.yaml", "seed=1", "--resume"]
    with pytest.raises(ValueError, match="--seq_len needs a value: --seq_len VALUE"):
        normalize_flags(DistillConfig, ["--seq_len"], set())


def test_command_line_mixes_spellings(monkeypatch):
    seen = []
    monkeypatch.setattr(cli, "run", seen.append)
    assert cli.main(["--config", TINY, "--lr", "3e-4", "max_steps=7", "--resume", "--allow-config-change",
                     "lr,max_steps", "--output_dir=runs/x"]) == 0
    cfg = seen[0]
    assert (cfg.lr, cfg.max_steps, cfg.resume, cfg.output_dir) == (3e-4, 7, True, "runs/x")
    assert cfg.allow_config_change == ["lr", "max_steps"] and {"lr", "max_steps"} <= cfg.resumable_changes()


def test_help_shows_defaults_and_how_paths_resolve(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert done.value.code == 0 and "(default: False)" in out and "--key value" in out
    assert "read against the file's directory" in out and "lr (default 0.001)" in out


def test_relative_paths_resolve_against_the_config_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the tiny preset works from any directory
    cfg = load_config(DistillConfig, TINY)
    assert cfg.datasets == [str(REPO / "pipelines/configs/data/tiny_corpus.txt")] and os.path.isfile(cfg.datasets[0])
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "teacher").mkdir()
    (tmp_path / "conf" / "c.yaml").write_text(
        "teacher: teacher\ntokenizer: EleutherAI/gpt-neox-20b\ndatasets: [{path: d.txt}, org/hub-data]\n"
        "output_dir: runs/x\n")
    cfg = load_config(DistillConfig, "conf/c.yaml", ["eval_datasets=[e.txt]"])
    assert cfg.teacher == str(tmp_path / "conf" / "teacher") and cfg.tokenizer == "EleutherAI/gpt-neox-20b"
    assert cfg.datasets == [{"path": str(tmp_path / "conf" / "d.txt")}, "org/hub-data"]
    assert cfg.output_dir == "runs/x" and cfg.eval_datasets == ["e.txt"]  # outputs, command line: cwd


def test_allow_config_change_must_name_keys():
    with pytest.raises(ValueError, match=r"allow_config_change names unknown key\(s\) \['lrr'\]"):
        load_config(DistillConfig, TINY, ["allow_config_change=[lrr]"])


def test_output_dir_that_is_a_file_and_unwritable(tmp_path, monkeypatch):
    (tmp_path / "f").write_text("")
    with pytest.raises(FileExistsError, match="output_dir .* is a file, not a directory"):
        claim_output_dir(tmp_path / "f", {}, False, set())
    with pytest.raises(FileExistsError, match="is a file"):
        lock_output_dir(tmp_path / "f")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("pathlib.Path.mkdir", denied)
    with pytest.raises(PermissionError, match="cannot write to output_dir .*permission denied"):
        lock_output_dir(tmp_path / "ro" / "run")


def test_second_process_on_an_output_dir_is_refused(tmp_path, teacher_dir, capsys):
    held = lock_output_dir(tmp_path / "run")
    try:
        line = error_line(capsys, ["--config", TINY, f"teacher={teacher_dir}", f"output_dir={tmp_path / 'run'}",
                                   *SMALL])
        assert f"is in use by process {os.getpid()}" in line and ".lock" in line
    finally:
        held.close()
    lock_output_dir(tmp_path / "run").close()  # released: usable again


def write_checkpoint(manager, step, truncate=False):
    path = manager.path_for(step)
    path.mkdir(parents=True)
    (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    save_file({"w": torch.ones(64)}, str(path / "model.safetensors"))
    torch.save({"state": {}}, path / "optimizer.bin")
    if truncate:
        data = (path / "model.safetensors").read_bytes()
        (path / "model.safetensors").write_bytes(data[: len(data) // 2])


def test_corrupt_checkpoint_offers_the_newest_intact_one(tmp_path):
    (tmp_path / "config.yaml").write_text("lr: 0.001\n")
    manager = CheckpointManager(tmp_path / "checkpoints", 3)
    write_checkpoint(manager, 4)
    write_checkpoint(manager, 8, truncate=True)
    with pytest.raises(ValueError) as err:
        claim_output_dir(tmp_path, {"lr": 1e-3}, True, set())
    msg = str(err.value)
    assert f"cannot resume from checkpoint {manager.path_for(8)}: model.safetensors is unreadable" in msg
    assert f"The newest intact one is {manager.path_for(4)}" in msg and "\n" not in msg
    (manager.path_for(8) / "model.safetensors").unlink()
    with open(manager.path_for(8) / "optimizer.bin", "r+b") as f:
        f.truncate(10)
    with pytest.raises(ValueError, match="optimizer.bin is truncated or not a torch file"):
        claim_output_dir(tmp_path, {"lr": 1e-3}, True, set())


def test_resume_may_extend_but_not_shorten_and_old_state_names_still_read(tmp_path):
    (tmp_path / "config.yaml").write_text("max_steps: 8\n")
    manager = CheckpointManager(tmp_path / "checkpoints", 3)
    write_checkpoint(manager, 8)
    assert claim_output_dir(tmp_path, {"max_steps": 12}, True, {"max_steps"}) == manager.path_for(8)
    with pytest.raises(ValueError, match="max_steps=6 is below step 8 .* set max_steps >= 8"):
        claim_output_dir(tmp_path, {"max_steps": 6}, True, {"max_steps"})
    (manager.path_for(8) / "trainer_state.json").write_text(json.dumps({"step": 8}))  # written before global_step
    assert checkpoint_step(manager.path_for(8)) == 8


@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"),
                                     RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos")])
def test_full_disk_during_a_save(tmp_path, failure):
    manager = CheckpointManager(tmp_path / "checkpoints", 2)
    write_checkpoint(manager, 4)
    tmp = manager.tmp_path_for(8)
    tmp.mkdir()
    with pytest.raises(OSError) as err, manager.writing("checkpoint step-00000008", tmp):
        raise failure
    assert str(err.value).startswith("no space left on device while writing checkpoint step-00000008")
    assert f"the last good checkpoint is {manager.path_for(4)} (step 4)" in str(err.value)
    assert not tmp.exists() and (manager.path_for(4) / "model.safetensors").is_file()
    with pytest.raises(RuntimeError, match="other"), manager.writing("x", tmp):  # other failures pass through
        raise RuntimeError("other")


def test_full_disk_in_a_real_run_keeps_the_earlier_checkpoint(tmp_path, teacher_dir, monkeypatch):
    from accelerate import Accelerator

    save_state, calls = Accelerator.save_state, []

    def fill_disk_on_second_save(self, output_dir, **kwargs):
        calls.append(output_dir)
        if len(calls) == 2:
            raise RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file")
        return save_state(self, output_dir, **kwargs)

    monkeypatch.setattr(Accelerator, "save_state", fill_disk_on_second_save)
    out = tmp_path / "run"
    with pytest.raises(OSError, match=r"no space left on device .*last good checkpoint is .*step-00000004 \(step 4\)"):
        run_in_process(small_config(teacher_dir, out, "max_steps=8"))
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step-00000004"]
    assert claim_output_dir(out, {**vars(small_config(teacher_dir, out, "max_steps=8")), "resume": True}, True,
                            DistillConfig.RESUMABLE_CHANGES) == out / "checkpoints" / "step-00000004"


def test_divergence_names_step_and_checkpoint_and_its_advice_works(tmp_path, teacher_dir, capsys):
    out = tmp_path / "run"
    argv = ["--config", TINY, f"teacher={teacher_dir}", f"output_dir={out}", *SMALL, "save_every=1", "max_steps=4"]
    line = error_line(capsys, [*argv, "--lr", "1e4", "--max_grad_norm", "null"])
    assert "the run diverged at step 3: NaN reached a neuron's input" in line and "fp16" not in line
    assert f"Last good checkpoint: {out / 'checkpoints' / 'step-00000001'} (step 1)" in line
    assert "--resume --allow-config-change lr,max_grad_norm lr=<lower> max_grad_norm=1.0" in line
    assert (out / "checkpoints" / "step-00000002.diverged").is_dir()  # the weights that diverged, kept aside
    # the advice, followed
    assert cli.main([*argv, "--resume", "--allow-config-change", "lr,max_grad_norm", "lr=1e-3",
                     "max_grad_norm=1.0"]) == 0
    captured = capsys.readouterr()
    assert "\r" not in captured.err + captured.out and "step 4/4: loss" in captured.out  # a log, line-wise
    history = [json.loads(line) for line in (out / "config_history.jsonl").read_text().splitlines()]
    assert history[0]["changes"] == {} and history[1]["resumed_at_step"] == 1
    assert history[1]["changes"]["lr"] == [1e4, 1e-3] and history[1]["changes"]["max_grad_norm"] == [None, 1.0]
    assert [r["step"] for r in read_metrics(out)] == [1, 2, 3, 4] and read_metrics(out)[2]["learning_rate"] < 1e-3


def test_resume_with_a_larger_max_steps_extends_the_run(tmp_path, teacher_dir):
    out = tmp_path / "run"
    run_in_process(small_config(teacher_dir, out, "max_steps=4"))
    summary = run_in_process(small_config(teacher_dir, out, "max_steps=6", "resume=true"))
    assert (summary["start_step"], summary["steps"]) == (4, 6)
    state = json.loads((out / "checkpoints" / "step-00000006" / "trainer_state.json").read_text())
    assert state["global_step"] == 6 and [r["step"] for r in read_metrics(out)] == [1, 2, 3, 4, 5, 6]
    config = json.loads((out / "final" / "config.json").read_text())
    assert config["eos_token_id"] == config["bos_token_id"] == config["pad_token_id"] == 256  # <|endoftext|>


def test_tiny_teacher_is_atomic_and_a_stale_one_is_refused(tmp_path, monkeypatch):
    import models.tiny

    path = tmp_path / "tiny_teacher"

    def dies_midway(target, **kwargs):
        target.mkdir(parents=True)
        (target / "pytorch_model.bin").write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(models.tiny, "save_tiny_mamba2", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        ensure_tiny_teacher(path, **TEACHER_SHAPE)
    assert not path.exists()
    monkeypatch.undo()
    assert ensure_tiny_teacher(path, **TEACHER_SHAPE) == path and (path / "config.json").is_file()
    assert ensure_tiny_teacher(path, **TEACHER_SHAPE) == path  # same settings: reused
    with pytest.raises(ValueError, match=r"was built with tiny_teacher settings .*'d_model': 32.* now says "
                                         r".*'d_model': 64.*delete .* or use a new output_dir"):
        ensure_tiny_teacher(path, **{**TEACHER_SHAPE, "d_model": 64})


@pytest.mark.parametrize("content, message", [(b"", "is empty"), (b"text\x00\x01\x02", "holds NUL bytes"),
                                              (b"\xff\xfe\x81 latin", "is not UTF-8 text (byte 0)")])
def test_empty_or_binary_data_file(tmp_path, content, message):
    bad = tmp_path / "corpus.txt"
    bad.write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(f"dataset file '{bad}' {message}")):
        load_records(DataSource(str(bad)))
