"""The configs the demo hands to the distillation and RL pipelines."""
from pathlib import Path

import pytest

from pipelines.demo.recipe import PRESETS, STUDENTS
from pipelines.demo.training import align_config, distill_config


@pytest.mark.parametrize("student", STUDENTS, ids=lambda s: s.name)
def test_distill_config_per_student(student, demo_data, tmp_path):
    recipe = PRESETS["default"]
    cfg = distill_config(recipe, student, tmp_path / "teacher", demo_data, tmp_path / "run", None)
    assert (cfg.neuron, cfg.D) == (student.neuron, student.D)
    assert cfg.sgc_layers == ([0, 2, 3] if student.sgc else [])       # first, middle, last of 4 blocks
    assert cfg.datasets == [str(demo_data.train)] and cfg.seq_len == recipe.teacher.seq_len
    assert (cfg.max_steps, cfg.lr, cfg.mixed_precision, cfg.cpu) == (recipe.distill.max_steps, 1e-3, "no", True)


def test_students_share_one_budget(demo_data, tmp_path):
    recipe = PRESETS["default"]
    budgets = {(c.max_steps, c.global_batch_size, c.seq_len, c.lr, tuple(c.betas))
               for c in (distill_config(recipe, s, tmp_path, demo_data, tmp_path, None) for s in STUDENTS)}
    assert len(budgets) == 1


def test_align_config_takes_the_trained_sgc_weights(demo_data, tmp_path):
    recipe = PRESETS["quick"]
    run = tmp_path / "tilif_sgc"
    sgc, plain = STUDENTS[3], STUDENTS[2]
    with pytest.raises(FileNotFoundError, match="checkpoints"):
        align_config(recipe, sgc, run, demo_data, tmp_path / "align", None)
    for step in ("step-00000004", "step-00000012"):
        (run / "checkpoints" / step).mkdir(parents=True)
    cfg = align_config(recipe, sgc, run, demo_data, tmp_path / "align", None)
    assert cfg.sgc and Path(cfg.sgc_init).name == "step-00000012" and cfg.policy == str(run / "final")
    assert cfg.data == str(demo_data.preference("dpo")) and cfg.loss == "dpo"
    cfg = align_config(recipe, plain, run, demo_data, tmp_path / "align", None)
    assert not cfg.sgc and cfg.sgc_init is None
