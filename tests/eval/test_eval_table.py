"""The comparison table against the paper's own Table 2 arithmetic (an oracle nobody here wrote)."""
import json

import pytest

from pipelines.eval.table import ComparisonTable, ModelRow
from pipelines.eval.zero_shot import paper_task_metrics

# Table 2, 1.3B rows: BoolQ PIQA HS_Norm WG AE AC_Norm -> (Avg., Diff.) as printed in the paper.
TEACHER = ("Mamba2", [64.34, 73.72, 59.94, 61.09, 64.18, 33.11], 59.40)
STUDENTS = [
    ("SpikingMamba 1x4", [59.45, 68.61, 44.89, 54.70, 61.83, 29.78], 53.21, -6.19),
    ("SpikingMamba 1x+-4", [58.78, 69.53, 48.85, 54.22, 62.58, 29.18], 53.86, -5.54),
    ("SpikingMamba 1x+-4 SGC", [59.60, 70.34, 48.66, 55.72, 63.44, 29.95], 54.62, -4.78),
]


# Table 2's RL rows (1.3B): label, zero-shot %, Avg., and the base they were aligned from; §5.1 reads the
# gains as SNN +2.29 / +2.55 (DPO / KTO, SGC) vs Mamba2 +0.57 / +0.44.
ALIGNED = [
    ("Mamba2 + DPO", [63.64, 73.23, 61.22, 60.69, 64.02, 37.03], 59.97, "Mamba2", 0.57),
    ("SpikingMamba + DPO", [62.23, 70.73, 52.39, 57.14, 63.64, 35.32], 56.91, "SpikingMamba 1x+-4 SGC", 2.29),
    ("Mamba2 + KTO", [60.55, 73.78, 61.67, 61.48, 66.12, 35.41], 59.84, "Mamba2", 0.44),
    ("SpikingMamba + KTO", [62.72, 71.33, 52.20, 56.27, 66.29, 34.22], 57.17, "SpikingMamba 1x+-4 SGC", 2.55),
]


def _row(label, percents, ppl=None, base=None, neuron="none"):
    cols = paper_task_metrics()
    return ModelRow(label, {c.key: p / 100 for c, p in zip(cols, percents)}, ppl or {},
                    info={"neuron_in": neuron, "neuron_out": neuron}, base=base)


def _paper_table():
    rows = [_row(TEACHER[0], TEACHER[1])] + [_row(s[0], s[1]) for s in STUDENTS]
    return ComparisonTable(paper_task_metrics(), [], rows, teacher=TEACHER[0])


def test_avg_and_diff_reproduce_table2():
    table = _paper_table()
    assert round(table.average(TEACHER[0]), 2) == TEACHER[2]
    assert table.diff(TEACHER[0]) is None
    for label, _, avg, diff in STUDENTS:
        assert round(table.average(label), 2) == avg
        assert round(table.diff(label), 2) == diff


def test_rl_gains_reproduce_section_5_1(tmp_path):
    """Aligned rows' gain over their base, SNN and dense side by side (markdown) and in the JSON."""
    snn_base = STUDENTS[2]
    rows = [_row(TEACHER[0], TEACHER[1]), _row(snn_base[0], snn_base[1], neuron="tilif")]
    rows += [_row(label, p, base=base, neuron="none" if base == "Mamba2" else "tilif")
             for label, p, _, base, _ in ALIGNED]
    table = ComparisonTable(paper_task_metrics(), [], rows, teacher=TEACHER[0])
    for label, _, avg, base, gain in ALIGNED:
        assert round(table.average(label), 2) == avg
        assert round(table.rl_gain(label), 2) == gain
    assert table.rl_gain(TEACHER[0]) is None and table.rl_gain(snn_base[0]) is None
    md = table.to_markdown().splitlines()
    assert md[0].endswith("| Avg. | Diff. | RL gain |")
    assert md[2].endswith("| 59.40 | - | - |") and md[4].endswith("| 59.97 | +0.57 | +0.57 |")
    assert md[-1] == ("RL gains (Avg., points): SNN SpikingMamba + DPO +2.29 (over SpikingMamba 1x+-4 SGC), "
                      "SpikingMamba + KTO +2.55 (over SpikingMamba 1x+-4 SGC) vs dense Mamba2 + DPO +0.57 "
                      "(over Mamba2), Mamba2 + KTO +0.44 (over Mamba2)")
    _, json_path = table.save(tmp_path)
    data = json.loads(json_path.read_text())
    assert [(g["label"], g["base"], g["snn"], round(g["rl_gain"], 2)) for g in data["gains"]] == [
        (label, base, base != "Mamba2", gain) for label, _, _, base, gain in ALIGNED]
    assert data["rows"][2]["base"] == "Mamba2" and data["rows"][0]["rl_gain"] is None
    with pytest.raises(ValueError, match="aligned row 'X' names base 'Y', which is not another row"):
        ComparisonTable(paper_task_metrics(), [], [rows[0], _row("X", TEACHER[1], base="Y")], teacher=TEACHER[0])


def test_markdown_and_json(tmp_path):
    rows = [_row("T", TEACHER[1], {"wikitext2": 10.42}), _row("S", STUDENTS[2][1], {"wikitext2": 15.79})]
    table = ComparisonTable(paper_task_metrics(), ["wikitext2"], rows, teacher="T")
    md = table.to_markdown().splitlines()
    assert md[0] == ("| Model | BoolQ | PIQA | HS_Norm | WG | AE | AC_Norm | Avg. | Diff. | wikitext2 PPL (↓) |")
    assert md[2] == "| T (teacher) | 64.34 | 73.72 | 59.94 | 61.09 | 64.18 | 33.11 | 59.40 | - | 10.42 |"
    assert md[3] == "| S | 59.60 | 70.34 | 48.66 | 55.72 | 63.44 | 29.95 | 54.62 | -4.78 | 15.79 |"
    md_path, json_path = table.save(tmp_path / "out")
    assert md_path.read_text() == table.to_markdown()
    data = json.loads(json_path.read_text())
    assert data["teacher"] == "T" and [r["label"] for r in data["rows"]] == ["T", "S"]
    assert data["rows"][0]["diff"] is None
    assert data["rows"][1]["diff"] == pytest.approx((sum(STUDENTS[2][1]) - sum(TEACHER[1])) / 6)
    assert data["rows"][1]["perplexity"] == {"wikitext2": 15.79}
    assert not list((tmp_path / "out").glob(".*tmp*"))


def test_bad_tables_are_rejected():
    cols = paper_task_metrics()
    with pytest.raises(ValueError, match="teacher 'X' is not one of the rows"):
        ComparisonTable(cols, [], [_row("T", TEACHER[1])], teacher="X")
    with pytest.raises(ValueError, match="unique"):
        ComparisonTable(cols, [], [_row("T", TEACHER[1]), _row("T", TEACHER[1])], teacher="T")
    with pytest.raises(ValueError, match=r"row 'S' has no score for \['wikitext2'\]"):
        ComparisonTable(cols, ["wikitext2"], [_row("T", TEACHER[1], {"wikitext2": 1.0}), _row("S", TEACHER[1])],
                        teacher="T")


def test_standard_errors_and_spike_driven_rows(tmp_path):
    """Every accuracy carries lm-eval's standard error (Avg.: sqrt(Σ se²) / n, the tasks being independent
    samples); a spike-driven row is marked; the JSON holds the same numbers."""
    errs = [0.84, 1.03, 0.49, 1.37, 0.98, 1.37]  # percent, one per task
    teacher = _row("T", TEACHER[1])
    student = _row("S", STUDENTS[2][1], neuron="tilif")
    teacher.stderr = {c.key: e / 100 for c, e in zip(paper_task_metrics(), errs)}
    student.stderr = dict(teacher.stderr) | {paper_task_metrics()[0].key: None}  # lm-eval's "N/A"
    student.info["spike_driven"] = True
    table = ComparisonTable(paper_task_metrics(), [], [teacher, student], teacher="T")
    avg_se = (sum(e * e for e in errs)) ** 0.5 / 6
    md = table.to_markdown().splitlines()
    assert md[2] == ("| T (teacher) | 64.34 ± 0.84 | 73.72 ± 1.03 | 59.94 ± 0.49 | 61.09 ± 1.37 | 64.18 ± 0.98 | "
                     f"33.11 ± 1.37 | 59.40 ± {avg_se:.2f} | - |")
    assert md[3].startswith("| S (spike-driven) | 59.60 | 70.34 ± 1.03 |") and md[3].endswith("| 54.62 | -4.78 |")
    data = json.loads(table.save(tmp_path)[1].read_text())
    t, s = data["rows"]
    assert (t["spike_driven"], s["spike_driven"]) == (False, True)
    assert list(t["zero_shot_stderr_percent"].values()) == pytest.approx(errs)
    assert t["avg_stderr"] == pytest.approx(avg_se) and s["avg_stderr"] is None
    assert s["zero_shot_stderr_percent"][paper_task_metrics()[0].key] is None
