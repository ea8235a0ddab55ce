"""The shipped teacher (pipelines/demo/teacher/): its files are the ones recorded, the default recipe loads
it, it beats a freshly initialised model on held-out text, and ship_teacher writes such a folder."""
import json
import shutil

import pytest
import torch

from pipelines.demo import shipped
from pipelines.demo.prepare import DataConfig, DemoData, data_dir_name
from pipelines.demo.recipe import DEFAULT, PRESETS, EvalStage
from pipelines.demo.shipped import SHIPPED_TEACHER, file_sha256, heldout_perplexities, load_provenance, verify


def test_recorded_hashes_match_and_the_folder_fits():
    provenance = verify()
    names = set(provenance["files"])
    assert {"model.safetensors", "config.json", "tokenizer.json", "config.yaml", "metrics.jsonl"} <= names
    assert sum(p.stat().st_size for p in SHIPPED_TEACHER.iterdir()) <= 16 * 2 ** 20


def test_a_changed_file_is_refused(tmp_path):
    copy = tmp_path / "teacher"
    shutil.copytree(SHIPPED_TEACHER, copy)
    with open(copy / "config.json", "a") as f:
        f.write(" ")
    with pytest.raises(ValueError, match="config.json"):
        verify(copy)


def test_the_default_recipe_loads_it_and_the_quick_one_does_not(corpus):
    provenance = load_provenance()
    root = data_dir_name(DataConfig(), corpus.sha256)
    assert provenance["teacher_key"] == DEFAULT.teacher_key(root, provenance["threads"])
    assert provenance["data"]["corpus_sha256"] == corpus.sha256 and provenance["data"]["dir"] == root
    default = DemoData(SHIPPED_TEACHER.parent / root, {})
    assert shipped.shipped_for(DEFAULT, default) == SHIPPED_TEACHER
    quick = DemoData(SHIPPED_TEACHER.parent / data_dir_name(PRESETS["quick"].data, corpus.sha256), {})
    assert shipped.shipped_for(PRESETS["quick"], quick) is None
    edited = DEFAULT.override(teacher={"max_steps": DEFAULT.teacher["max_steps"] + 1})
    assert shipped.shipped_for(edited, default) is None
    # known before the data stage, so that the first progress line plans no teacher stage
    assert shipped.ships_teacher_stage(DEFAULT)
    assert not shipped.ships_teacher_stage(PRESETS["quick"]) and not shipped.ships_teacher_stage(edited)


def test_it_beats_a_fresh_model_on_heldout_text(demo_data):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(SHIPPED_TEACHER)
    text = tokenizer.eos_token.join(json.loads(line)["text"] for line in demo_data.heldout.read_text().splitlines()[:2])
    ids = torch.tensor(tokenizer(text)["input_ids"][:1024])
    ppl = heldout_perplexities(SHIPPED_TEACHER, ids, context_len=128, stride=128)
    assert ppl["tokens"] == 8 * 127
    assert ppl["teacher"] < 60 and ppl["fresh_init"] > 10 * ppl["teacher"]


def test_ship_teacher_writes_a_verified_folder_and_its_card(demo_data, tmp_path):
    """A stand-in pretraining run (the shipped teacher's own files) shipped to a temporary folder."""
    run = tmp_path / "run"
    shutil.copytree(SHIPPED_TEACHER, run / "final")
    for name in (*shipped.RUN_FILES, shipped.PROVENANCE, shipped.CARD):
        (run / "final" / name).rename(run / name)
    recipe = DEFAULT.override(evaluation=EvalStage(ppl_documents=1, ppl_stride=128))
    out = tmp_path / "teacher"
    provenance = shipped.ship_teacher(run, recipe, demo_data, 1, "python -m pipelines demo --ship-teacher", folder=out)
    assert verify(out) == provenance and provenance["teacher_key"] == recipe.teacher_key(demo_data.root.name, 1)
    assert provenance["files"]["model.safetensors"] == file_sha256(SHIPPED_TEACHER / "model.safetensors")
    assert provenance["heldout_ppl"]["teacher"] < provenance["heldout_ppl"]["fresh_init"]
    card = (out / "README.md").read_text()
    assert "python -m pipelines demo --ship-teacher" in card and provenance["files"]["model.safetensors"] in card
    assert f"{provenance['heldout_ppl']['teacher']:.2f}" in card
