"""The configs the demo hands to the distillation and RL pipelines: the pipelines' defaults, the demo's run
settings and the recipe's overrides."""
from pathlib import Path

import pytest

from pipelines.demo.recipe import DEFAULT, PRESETS, STUDENTS
from pipelines.demo.training import RUN, align_config, distill_config, student_policy, teacher_config


@pytest.mark.parametrize("student", STUDENTS, ids=lambda s: s.name)
def test_distill_config_per_student(student, demo_data, tmp_path):
    recipe = PRESETS["default"]
    cfg = distill_config(recipe, student, tmp_path / "teacher", demo_data, tmp_path / "run", None)
    assert (cfg.neuron, cfg.D) == (student.neuron, student.D)
    assert cfg.sgc_layers == (None if student.sgc else [])       # null: the model's default layers
    assert cfg.datasets == [str(demo_data.train)] and cfg.seq_len == recipe.seq_len
    assert (cfg.max_steps, cfg.lr, cfg.mixed_precision, cfg.cpu) == (recipe.setting("distill", "max_steps"), 1e-3,
                                                                      "no", True)


def test_the_sgc_student_gets_the_first_middle_and_last_block(demo_data, tmp_path):
    from pipelines.distill import teacher_student
    from pipelines.tiny import ensure_tiny_teacher

    teacher = str(ensure_tiny_teacher(tmp_path / "teacher", d_model=32, n_layer=4, d_state=8, headdim=8))
    for student in STUDENTS:
        cfg = distill_config(PRESETS["default"], student, teacher, demo_data, tmp_path / "run", None)
        layers = teacher_student.load_student(cfg, teacher, 4).config.sgc_layers
        assert layers == ([0, 2, 3] if student.sgc else [])      # first, middle, last of 4 blocks


def test_students_share_one_budget(demo_data, tmp_path):
    recipe = PRESETS["default"]
    budgets = {(c.max_steps, c.global_batch_size, c.seq_len, c.lr, tuple(c.betas))
               for c in (distill_config(recipe, s, tmp_path, demo_data, tmp_path, None) for s in STUDENTS)}
    assert len(budgets) == 1


def test_teacher_config_pretrains_a_dense_mamba2_with_ce(demo_data, tmp_path):
    cfg = teacher_config(PRESETS["default"], demo_data, tmp_path / "teacher", None)
    assert (cfg.objective, cfg.neuron, cfg.freeze_embedding, cfg.teacher) == ("ce", "none", False, None)
    assert cfg.tiny_teacher["vocab_size"] == demo_data.manifest["vocab"] and cfg.tokenizer == str(demo_data.tokenizer)
    assert cfg.datasets == [str(demo_data.train)] and cfg.eval_datasets == [str(demo_data.heldout)]
    steps = PRESETS["default"].setting("teacher", "max_steps")
    assert (cfg.max_steps, cfg.lr, cfg.weight_decay, cfg.save_every) == (steps, 3e-3, 0.1, steps) and steps >= 4 * 640


@pytest.mark.parametrize("preset", PRESETS)
def test_every_stage_of_every_preset_is_a_valid_config(preset, demo_data, tmp_path):
    recipe = PRESETS[preset]
    configs = [teacher_config(recipe, demo_data, tmp_path, None), align_config(recipe, tmp_path, demo_data, tmp_path, None)]
    configs += [distill_config(recipe, s, tmp_path, demo_data, tmp_path, None) for s in STUDENTS]
    for cfg in configs:
        assert all(getattr(cfg, key) == value for key, value in RUN.items())
        assert cfg.save_every == cfg.max_steps   # one checkpoint, at the end


def test_a_preset_overrides_only_what_it_names():
    quick = PRESETS["quick"]
    assert quick.setting("teacher", "max_steps") == 60 and quick.setting("teacher", "lr") == DEFAULT.teacher["lr"]
    assert quick.setting("align", "loss") == "dpo" and quick.setting("distill", "lr") == 1e-3   # DistillConfig's
    assert DEFAULT.override(align={"loss": "kto"}).align == {**DEFAULT.align, "loss": "kto"}


def test_align_config_takes_the_trained_sgc_weights(demo_data, tmp_path):
    recipe = PRESETS["quick"]
    run = tmp_path / "tilif_sgc"
    sgc, plain = STUDENTS[3], STUDENTS[2]
    with pytest.raises(FileNotFoundError, match="checkpoints"):
        align_config(recipe, run / "final", demo_data, tmp_path / "align", None, run)
    for step in ("step-00000004", "step-00000012"):
        (run / "checkpoints" / step).mkdir(parents=True)
    policy, sgc_run = student_policy(sgc, run)
    cfg = align_config(recipe, policy, demo_data, tmp_path / "align", None, sgc_run)
    assert cfg.sgc and Path(cfg.sgc_init).name == "step-00000012" and cfg.policy == str(run / "final")
    assert cfg.data == str(demo_data.preference("dpo")) and cfg.loss == "dpo"
    policy, sgc_run = student_policy(plain, run)
    cfg = align_config(recipe, policy, demo_data, tmp_path / "align", None, sgc_run)
    assert not cfg.sgc and cfg.sgc_init is None


def test_the_dense_teacher_is_aligned_without_sgc(demo_data, tmp_path):
    cfg = align_config(PRESETS["default"], tmp_path / "teacher", demo_data, tmp_path / "align", None)
    assert cfg.policy == str(tmp_path / "teacher") and not cfg.sgc and cfg.sgc_init is None
    assert PRESETS["default"].aligned == {"tilif_sgc_dpo": "tilif_sgc", "teacher_dpo": "teacher"}


def test_second_seed_students_differ_only_in_seed(demo_data, tmp_path):
    recipe = PRESETS["default"]
    for again in recipe.repeated:
        first = next(s for s in STUDENTS if again.name == f"{s.name}_seed{recipe.repeat_seed}")
        a, b = (distill_config(recipe, s, tmp_path, demo_data, tmp_path, None) for s in (first, again))
        assert (a.seed, b.seed) == (0, recipe.repeat_seed)
        assert {k: v for k, v in vars(a).items() if k != "seed"} == {k: v for k, v in vars(b).items() if k != "seed"}
