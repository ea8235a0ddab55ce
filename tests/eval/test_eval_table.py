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


def _row(label, percents, ppl=None):
    cols = paper_task_metrics()
    return ModelRow(label, {c.key: p / 100 for c, p in zip(cols, percents)}, ppl or {})


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
