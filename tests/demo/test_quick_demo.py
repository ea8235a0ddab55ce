"""`python -m pipelines demo --quick` end to end, offline, as a user runs it (one subprocess)."""
import json
import math
import subprocess
import sys
import time

import pytest

from pipelines.demo.recipe import PRESETS, STUDENTS
from pipelines.demo.report import SUMMARY_KEYS, load_summary, table_markdown

NAMES = {"teacher", "teacher_dpo", "lif", "ilif", "tilif", "tilif_sgc", "tilif_sgc_dpo", "tilif_seed1", "tilif_sgc_seed1"}


@pytest.mark.timeout(900)
def test_quick_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pipelines", "demo", "--quick", "--out", str(out)],
                          capture_output=True, text=True, env={**__import__("os").environ, "HF_HUB_OFFLINE": "1",
                                                               "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    wall = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-3000:]

    summary = load_summary(out / "summary.json")
    models = summary["models"]
    assert set(models) == NAMES
    for name, row in models.items():
        assert set(row) == set(SUMMARY_KEYS)
        numbers = [row["ppl"], row["acc"], row["energy_ratio"]] + ([] if name in ("teacher", "teacher_dpo") else [row["fr_in"], row["fr_out"]])
        assert all(isinstance(v, float) and math.isfinite(v) for v in numbers), (name, row)
        assert row["ppl"] > 1 and 0 <= row["acc"] <= 1
    dense = {"teacher", "teacher_dpo"}
    assert all(models[n]["fr_in"] is None and models[n]["fr_out"] is None for n in dense)
    assert all(models[n]["energy_ratio"] == 1.0 for n in dense)
    assert all(0 < models[n][k] <= 1 and models[n]["energy_ratio"] > 1 for n in NAMES - dense
               for k in ("fr_in", "fr_out"))

    # the table is generated from summary.json: printed, and in report.md
    table = table_markdown(summary)
    assert table in proc.stdout and table in (out / "report.md").read_text()
    for fig in ("loss_curves", "final_block_hist", "spike_rasters", "energy"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 1000
        json.loads((out / "figures" / f"{fig}.json").read_text())
    assert {p.stem for p in (out / "eval").glob("*.json")} == NAMES

    # every student distilled with the same budget, on the training split only
    import yaml
    configs = [yaml.safe_load((out / "students" / s.name / "config.yaml").read_text())
               for s in (*STUDENTS, *PRESETS["quick"].repeated)]
    quick = PRESETS["quick"]
    assert {(c["max_steps"], c["global_batch_size"], c["seq_len"], c["lr"]) for c in configs} == \
        {(quick.setting("distill", "max_steps"), quick.setting("distill", "global_batch_size"), quick.seq_len,
          quick.setting("distill", "lr"))}
    assert all(c["datasets"] == [summary["meta"]["data"]["root"] + "/train.jsonl"] for c in configs)
    assert summary["meta"]["teacher_source"] == "pretrained" and summary["meta"]["seconds"]["total"] <= wall
    print(f"quick demo: {wall:.0f} s wall, stages {summary['meta']['seconds']}")
