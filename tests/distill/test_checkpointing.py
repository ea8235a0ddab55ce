"""Checkpoint directory bookkeeping, output-dir claiming and metrics (no model needed)."""
import json

import pytest
import yaml

from pipelines.atomic import atomic_write_text, replace_directory
from pipelines.checkpointing import CheckpointManager, claim_output_dir
from pipelines.metrics import MetricsWriter, read_metrics


def make_step(manager, step):
    manager.path_for(step).mkdir(parents=True)
    (manager.path_for(step) / "trainer_state.json").write_text(json.dumps({"step": step}))


def test_rotation_keeps_the_newest_and_partial_saves_are_ignored_then_removed(tmp_path):
    m = CheckpointManager(tmp_path / "checkpoints", keep_last=2)
    assert m.latest() is None and m.checkpoints() == []
    for step in (5, 10, 15):
        make_step(m, step)
        m.rotate()
    m.tmp_path_for(20).mkdir()  # a save that died before its rename
    assert [s for s, _ in m.checkpoints()] == [10, 15] and m.latest()[0] == 15
    assert m.remove_partial() == [m.tmp_path_for(20)] and not m.tmp_path_for(20).exists()
    with pytest.raises(ValueError, match="keep at least 1"):
        CheckpointManager(tmp_path, keep_last=0)


def test_replace_directory_and_atomic_write(tmp_path):
    final, tmp = tmp_path / "final", tmp_path / ".final.tmp"
    for content in ("old", "new"):
        tmp.mkdir()
        (tmp / "w").write_text(content)
        replace_directory(tmp, final)
    assert (final / "w").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["final"]
    atomic_write_text(tmp_path / "a" / "x.txt", "hello")
    assert (tmp_path / "a" / "x.txt").read_text() == "hello" and len(list((tmp_path / "a").iterdir())) == 1


def test_claim_output_dir(tmp_path):
    cfg = {"lr": 1e-3, "resume": False, "save_every": 5}
    assert claim_output_dir(tmp_path / "new", cfg, False, {"resume"}) is None
    with pytest.raises(FileNotFoundError, match="no complete checkpoint; use resume=auto"):
        claim_output_dir(tmp_path / "new", cfg, True, {"resume"})
    assert claim_output_dir(tmp_path / "new", cfg, "auto", {"resume"}) is None
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(FileExistsError, match="holds another run .*pass --resume"):
        claim_output_dir(tmp_path, cfg, False, {"resume"})
    make_step(CheckpointManager(tmp_path / "checkpoints", 1), 5)
    assert claim_output_dir(tmp_path, {**cfg, "resume": True}, True, {"resume"}).name == "step-00000005"
    with pytest.raises(ValueError, match=r"differs in lr: 0.001 -> 0.002\. Pass --allow-config-change lr"):
        claim_output_dir(tmp_path, {**cfg, "lr": 2e-3}, True, {"resume"})


def test_metrics_jsonl_truncates_on_resume(tmp_path):
    w = MetricsWriter(tmp_path, tensorboard=False)
    for step in range(1, 6):
        w.log(step, loss=1.0 / step, loss_kl=float("nan"))
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 3, 4, 5]
    assert read_metrics(tmp_path)[0]["loss_kl"] == "nan"
    MetricsWriter(tmp_path, resume_step=3, tensorboard=False).log(4, loss=0.0)
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 3, 4]
    MetricsWriter(tmp_path, enabled=False).log(9, loss=0.0)
    assert len(read_metrics(tmp_path)) == 4
