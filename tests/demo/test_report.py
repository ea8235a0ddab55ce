"""The report is computed from summary.json alone: the table, Diff, and the paper's claims."""
import copy

import pytest

from pipelines.demo.report import check_claims, load_summary, table_markdown

MODELS = {
    "teacher": {"ppl": 20.0, "acc": 0.60, "fr_in": None, "fr_out": None, "energy_ratio": 1.0},
    "lif": {"ppl": 40.0, "acc": 0.40, "fr_in": 0.20, "fr_out": 0.10, "energy_ratio": 3.5},
    "ilif": {"ppl": 30.0, "acc": 0.45, "fr_in": 0.10, "fr_out": 0.06, "energy_ratio": 3.1},
    "tilif": {"ppl": 25.0, "acc": 0.50, "fr_in": 0.20, "fr_out": 0.08, "energy_ratio": 2.8},
    "tilif_sgc": {"ppl": 24.0, "acc": 0.52, "fr_in": 0.19, "fr_out": 0.08, "energy_ratio": 2.85},
    "tilif_sgc_dpo": {"ppl": 24.5, "acc": 0.55, "fr_in": 0.19, "fr_out": 0.08, "energy_ratio": 2.85},
}


@pytest.fixture
def summary():
    return {"models": copy.deepcopy(MODELS), "meta": {"mc_questions": 400}}


def parse_table(markdown):
    rows = [line.strip("|").split("|") for line in markdown.splitlines()[2:]]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows}


def test_table_has_every_model_and_its_numbers(summary):
    table = parse_table(table_markdown(summary))
    assert list(table) == list(MODELS)
    for name, m in MODELS.items():
        cells = table[name]
        assert float(cells[2]) == pytest.approx(m["ppl"], abs=0.005)
        assert float(cells[3]) == pytest.approx(100 * m["acc"], abs=0.005)
        assert cells[4] == ("–" if name == "teacher" else f"{100 * (m['acc'] - 0.60):+.2f}")
        assert cells[5] == ("–" if m["fr_in"] is None else f"{m['fr_in']:.4f}")
        assert float(cells[7]) == pytest.approx(m["energy_ratio"], abs=0.005)


def test_table_follows_the_summary(summary):
    summary["models"]["lif"]["ppl"] = 123.456
    assert parse_table(table_markdown(summary))["lif"][2] == "123.46"


def test_claims_hold_on_paper_like_numbers(summary):
    claims = check_claims(summary)
    assert len(claims) == 5 and all(c["holds"] for c in claims)


@pytest.mark.parametrize("change,broken", [
    (("ilif", "ppl", 45.0), {0}),                 # I-LIF worse than LIF
    (("tilif_sgc", "ppl", 26.0), {1, 2}),         # SGC hurts perplexity (> 1 % worse)
    (("tilif_sgc", "ppl", 25.2), {2}),            # 0.8 % worse: within tolerance, but no help
    (("tilif_sgc", "acc", 0.45), {1}),            # 7 points less accurate: beyond one standard error
    (("tilif_sgc_dpo", "acc", 0.51), {3}),        # RL lowers accuracy
    (("tilif", "energy_ratio", 3.6), {4}),        # TI-LIF more efficient than LIF
])
def test_each_claim_can_fail(summary, change, broken):
    name, key, value = change
    summary["models"][name][key] = value
    holds = [c["holds"] for c in check_claims(summary)]
    assert holds == [i not in broken for i in range(5)]


def test_load_summary_round_trip(summary, tmp_path):
    import json

    (tmp_path / "summary.json").write_text(json.dumps(summary))
    assert table_markdown(load_summary(tmp_path / "summary.json")) == table_markdown(summary)
