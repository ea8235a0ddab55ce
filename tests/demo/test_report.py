"""The report is computed from summary.json alone: the table, Diff, and the paper's claims."""
import copy

import pytest

from pipelines.demo.report import (HELD, NOISE, NOT_HELD, PPL_TOLERANCE, acc_stderr, check_claims, load_summary,
                                   seed_spread, table_markdown)

MODELS = {
    "teacher": {"ppl": 20.0, "acc": 0.70, "fr_in": None, "fr_out": None, "energy_ratio": 1.0},
    "teacher_dpo": {"ppl": 20.1, "acc": 0.705, "fr_in": None, "fr_out": None, "energy_ratio": 1.0},
    "lif": {"ppl": 40.0, "acc": 0.40, "fr_in": 0.20, "fr_out": 0.10, "energy_ratio": 3.5},
    "ilif": {"ppl": 30.0, "acc": 0.45, "fr_in": 0.10, "fr_out": 0.06, "energy_ratio": 3.1},
    "tilif": {"ppl": 25.0, "acc": 0.50, "fr_in": 0.20, "fr_out": 0.08, "energy_ratio": 2.8},
    "tilif_sgc": {"ppl": 24.0, "acc": 0.52, "fr_in": 0.19, "fr_out": 0.08, "energy_ratio": 2.85},
    "tilif_sgc_dpo": {"ppl": 24.5, "acc": 0.66, "fr_in": 0.19, "fr_out": 0.08, "energy_ratio": 2.85},
    "tilif_seed1": {"ppl": 25.1, "acc": 0.51, "fr_in": 0.20, "fr_out": 0.08, "energy_ratio": 2.8},
    "tilif_sgc_seed1": {"ppl": 24.05, "acc": 0.52, "fr_in": 0.19, "fr_out": 0.08, "energy_ratio": 2.85},
}
META = {"mc_questions": 400, "aligned": {"tilif_sgc_dpo": "tilif_sgc", "teacher_dpo": "teacher"},
        "repeats": {"tilif_seed1": "tilif", "tilif_sgc_seed1": "tilif_sgc"}}
CLAIMS = 7


@pytest.fixture
def summary():
    return {"models": copy.deepcopy(MODELS), "meta": copy.deepcopy(META)}


def parse_table(markdown):
    rows = [line.strip("|").split("|") for line in markdown.splitlines()[2:]]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows}


def test_table_has_every_model_and_its_numbers(summary):
    table = parse_table(table_markdown(summary))
    assert list(table) == list(MODELS)
    for name, m in MODELS.items():
        cells = table[name]
        assert float(cells[3]) == pytest.approx(m["ppl"], abs=0.005)
        acc, se = cells[4].split(" ± ")
        assert float(acc) == pytest.approx(100 * m["acc"], abs=0.005)
        assert float(se) == pytest.approx(100 * acc_stderr(m["acc"], 400), abs=0.005)
        assert cells[5] == ("–" if name == "teacher" else f"{100 * (m['acc'] - 0.70):+.2f}")
        assert cells[6] == ("–" if m["fr_in"] is None else f"{m['fr_in']:.4f}")
        assert float(cells[8]) == pytest.approx(m["energy_ratio"], abs=0.005)


def test_table_follows_the_summary(summary):
    summary["models"]["lif"]["ppl"] = 123.456
    assert parse_table(table_markdown(summary))["lif"][3] == "123.46"


def test_seed_spread_is_the_largest_difference_between_seeds(summary):
    spread = seed_spread(summary)
    assert spread["ppl"] == pytest.approx(0.1) and spread["acc"] == pytest.approx(0.01)
    assert set(spread["pairs"]) == {"tilif", "tilif_sgc"}


def test_verdicts_on_paper_like_numbers(summary):
    verdicts = [c["verdict"] for c in check_claims(summary)]
    assert len(verdicts) == CLAIMS and verdicts == [HELD] * CLAIMS


@pytest.mark.parametrize("changes,expected", [
    ({("ilif", "ppl"): 45.0}, {0: NOT_HELD}),                          # I-LIF worse than LIF
    ({("ilif", "ppl"): 25.05}, {0: NOISE}),                            # I-LIF within the seed spread of TI-LIF
    ({("tilif_sgc", "ppl"): 26.0, ("tilif_sgc_seed1", "ppl"): 26.0}, {1: NOT_HELD, 2: NOT_HELD}),   # SGC hurts
    ({("tilif_sgc", "ppl"): 25.0, ("tilif_sgc_seed1", "ppl"): 25.1}, {2: NOISE}),  # no better than the seeds
    ({("tilif_sgc", "acc"): 0.40, ("tilif_sgc_seed1", "acc"): 0.40}, {1: NOT_HELD}),
    ({("tilif_sgc_dpo", "acc"): 0.53}, {3: NOISE, 4: NOISE}),          # +1 point: within two standard errors
    ({("tilif_sgc_dpo", "acc"): 0.40}, {3: NOT_HELD, 4: NOT_HELD}),    # RL lowers accuracy
    ({("teacher_dpo", "acc"): 0.99}, {4: NOT_HELD}),                   # the dense model gains more
    ({("tilif", "energy_ratio"): 3.6}, {5: NOT_HELD}),                 # TI-LIF more efficient than LIF
    ({("teacher", "ppl"): 24.2}, {6: NOT_HELD}),                       # a student has a lower perplexity
    ({("teacher", "acc"): 0.64, ("teacher_dpo", "acc"): 0.645}, {6: NOISE}),                       # a student within noise of its accuracy
])
def test_each_claim_can_fail(summary, changes, expected):
    for (name, key), value in changes.items():
        summary["models"][name][key] = value
    verdicts = [c["verdict"] for c in check_claims(summary)]
    assert verdicts == [expected.get(i, HELD) for i in range(CLAIMS)]


def test_without_a_second_seed_the_perplexity_noise_is_the_tolerance(summary):
    for name in summary["meta"].pop("repeats"):
        del summary["models"][name]
    assert seed_spread(summary)["ppl"] is None
    summary["models"]["tilif_sgc"]["ppl"] = 25.0 * (1 - PPL_TOLERANCE / 2)    # better, but by less than 1 %
    claims = check_claims(summary)
    assert claims[2]["verdict"] == NOISE and "no second seed" in claims[2]["evidence"]


def test_without_the_dense_alignment_its_claim_is_left_out(summary):
    del summary["models"]["teacher_dpo"], summary["meta"]["aligned"]["teacher_dpo"]
    claims = check_claims(summary)
    assert len(claims) == CLAIMS - 1 and not any("Mamba2 does" in c["claim"] for c in claims)


def test_load_summary_round_trip(summary, tmp_path):
    import json

    (tmp_path / "summary.json").write_text(json.dumps(summary))
    assert table_markdown(load_summary(tmp_path / "summary.json")) == table_markdown(summary)
