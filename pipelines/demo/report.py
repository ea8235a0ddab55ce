"""``summary.json`` → the Table-2-style table, the paper's claims checked, and ``report.md``.

Everything printed or written here is computed from ``summary.json`` alone (``summary["models"]``
and ``summary["meta"]``), so the table can always be regenerated from the file:

    python -c "from pipelines.demo.report import *; print(table_markdown(load_summary('runs/demo/summary.json')))"

``summary["models"][NAME]`` = ``{"ppl", "acc", "fr_in", "fr_out", "energy_ratio"}`` for NAME in teacher,
the students of ``recipe.STUDENTS``, the aligned rows (``<base>_dpo`` / ``<base>_kto``, base a student or
the teacher: ``meta["aligned"]``) and the students distilled with a second seed (``<student>_seed1``:
``meta["repeats"]``), in the table's order; acc is a fraction, ppl the held-out perplexity, fr Table 12's
firing rate (mean over layers), energy_ratio E_A/E_S; the teacher's fr are null and its energy_ratio 1.
"Diff" is acc − teacher acc in points; "SE" the binomial standard error over ``meta["mc_questions"]``.
Each claim gets a verdict: held, not held, or within noise (``check_claims``).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from pipelines.demo.recipe import STUDENTS

SUMMARY_KEYS = ("ppl", "acc", "fr_in", "fr_out", "energy_ratio")
BASE_STUDENTS = tuple(s.name for s in STUDENTS)
HELD, NOT_HELD, NOISE = "held", "not held", "within noise"
NOISE_SE = 2.0   # an accuracy difference within 2 standard errors (about 95 %) is within noise


def load_summary(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def model_rows(summary: dict) -> list[tuple[str, dict]]:
    """Every model in the summary's order (the table's)."""
    return list(summary["models"].items())


def student_name(neuron: str, sgc: bool) -> str:
    """The name of the student with this neuron kind and SGC in ``STUDENTS``."""
    return next(s.name for s in STUDENTS if (s.neuron, s.sgc) == (neuron, sgc))


def _num(value, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def acc_stderr(acc: float, n: int) -> float:
    """Binomial standard error of an accuracy over ``n`` questions."""
    return math.sqrt(max(acc * (1 - acc), 1e-12) / n)


def _questions(summary: dict) -> int:
    return summary.get("meta", {}).get("mc_questions") or 1


def table_markdown(summary: dict) -> str:
    """The Table-2-style table (markdown) from ``summary.json``; every accuracy ± its standard error."""
    models, meta = summary["models"], summary.get("meta", {})
    labels, n = meta.get("labels", {}), _questions(summary)
    teacher_acc = models["teacher"]["acc"]
    lines = ["| model | step (T×D) | SGC | seed | held-out PPL ↓ | verse-ending acc (%) ± SE ↑ | Diff | fr_in | fr_out "
             "| E_A/E_S ↑ |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, m in model_rows(summary):
        info = labels.get(name, {})
        diff = "–" if name == "teacher" else f"{100 * (m['acc'] - teacher_acc):+.2f}"
        lines.append(f"| {name} | {info.get('step', '')} | {info.get('sgc', '')} | {_num(info.get('seed'), 'd')} | "
                     f"{_num(m['ppl'], '.2f')} | {100 * m['acc']:.2f} ± {100 * acc_stderr(m['acc'], n):.2f} | {diff} | "
                     f"{_num(m['fr_in'], '.4f')} | {_num(m['fr_out'], '.4f')} | {m['energy_ratio']:.2f} |")
    return "\n".join(lines)


PPL_TOLERANCE = 0.01   # the perplexity noise when no second seed was run: 1 % (TUNING.md: seeds move it ~0.1-0.4 %)


def verdict(diff: float, noise: float) -> str:
    """``diff`` > 0 favours the claim: held beyond ``noise``, not held below ``-noise``, else within noise."""
    return HELD if diff > noise else NOT_HELD if diff < -noise else NOISE


def seed_spread(summary: dict) -> dict:
    """Per repeated student, |PPL| and |acc| differences between its two seeds; ``ppl`` / ``acc``: the largest."""
    m, repeats = summary["models"], summary.get("meta", {}).get("repeats", {})
    pairs = {base: {"ppl": abs(m[name]["ppl"] - m[base]["ppl"]), "acc": abs(m[name]["acc"] - m[base]["acc"])}
             for name, base in repeats.items() if name in m and base in m}
    return {"pairs": pairs, "ppl": max((p["ppl"] for p in pairs.values()), default=None),
            "acc": max((p["acc"] for p in pairs.values()), default=None)}


def _seeds(summary: dict, base: str) -> list[str]:
    """``base`` and its second-seed rows."""
    repeats = summary.get("meta", {}).get("repeats", {})
    return [base, *(name for name, b in repeats.items() if b == base and name in summary["models"])]


def check_claims(summary: dict) -> list[dict]:
    """The paper's claims at this scale, each ``{"claim", "verdict", "evidence"}``, from the summary alone.

    Perplexity differences are judged against the spread between seeds of the same configuration (the
    largest |ΔPPL| between a student's two seeds; ``PPL_TOLERANCE`` of the perplexity without a second
    seed), accuracy differences against ``NOISE_SE`` binomial standard errors of the difference (or the
    seed spread of accuracy, if larger). A student with two seeds enters as the mean of both.
    """
    m, meta = summary["models"], summary.get("meta", {})
    n = _questions(summary)
    spread = seed_spread(summary)
    claims = []

    def add(claim, result, evidence):
        claims.append({"claim": claim, "verdict": result, "evidence": evidence})

    def mean(name, key):
        rows = _seeds(summary, name)
        return sum(m[r][key] for r in rows) / len(rows)

    def se(name):   # standard error of a (seed-averaged) accuracy
        rows = _seeds(summary, name)
        return math.sqrt(sum(acc_stderr(m[r]["acc"], n) ** 2 for r in rows)) / len(rows)

    def ppl_noise(*names):
        return spread["ppl"] if spread["ppl"] is not None else PPL_TOLERANCE * max(mean(x, "ppl") for x in names)

    def acc_noise(*names):
        return max(NOISE_SE * math.sqrt(sum(se(x) ** 2 for x in names)), spread["acc"] or 0.0)

    pairs = ", ".join(f"{b} ΔPPL {d['ppl']:.2f}, Δacc {100 * d['acc']:.2f} points" for b, d in spread["pairs"].items())
    noise_note = (f"seed spread: {pairs}" if spread["pairs"]
                  else f"no second seed: PPL noise taken as {100 * PPL_TOLERANCE:.0f} %")
    lif, ilif, tilif = (student_name(kind, sgc=False) for kind in ("lif", "ilif", "tilif"))
    sgc = student_name("tilif", sgc=True)
    p = {k: mean(k, "ppl") for k in BASE_STUDENTS}
    steps = [verdict(p[ilif] - p[tilif], ppl_noise(ilif, tilif)), verdict(p[lif] - p[ilif], ppl_noise(lif, ilif))]
    add("TI-LIF beats I-LIF beats LIF on perplexity (Tables 4–5)",
        NOT_HELD if NOT_HELD in steps else HELD if steps == [HELD, HELD] else NOISE,
        f"PPL {tilif} {p[tilif]:.2f}, {ilif} {p[ilif]:.2f}, {lif} {p[lif]:.2f}")
    acc_gap = mean(sgc, "acc") - mean(tilif, "acc")
    sgc_evidence = (f"PPL {sgc} {p[sgc]:.2f} vs {tilif} {p[tilif]:.2f} ({p[sgc] - p[tilif]:+.2f}, noise "
                    f"{ppl_noise(sgc, tilif):.2f}); acc {100 * mean(sgc, 'acc'):.2f} vs {100 * mean(tilif, 'acc'):.2f} % "
                    f"({100 * acc_gap:+.2f} points, noise {100 * acc_noise(sgc, tilif):.2f}); {noise_note}")
    add("SGC does not hurt (Table 6): perplexity and accuracy with SGC not worse beyond the noise",
        HELD if verdict(p[tilif] - p[sgc], ppl_noise(sgc, tilif)) != NOT_HELD
        and verdict(acc_gap, acc_noise(sgc, tilif)) != NOT_HELD else NOT_HELD, sgc_evidence)
    add("SGC helps (Tables 4 and 6): lower perplexity with SGC", verdict(p[tilif] - p[sgc], ppl_noise(sgc, tilif)),
        sgc_evidence)
    gains = {}
    for name, base in meta.get("aligned", {}).items():
        if name not in m:
            continue
        gains[base] = (m[name]["acc"] - m[base]["acc"],
                       math.sqrt(acc_stderr(m[name]["acc"], n) ** 2 + acc_stderr(m[base]["acc"], n) ** 2), name)
        gain, se_gain, _ = gains[base]
        if base != "teacher":
            add(f"RL improves accuracy (Table 2): {name} vs {base}", verdict(gain, NOISE_SE * se_gain),
                f"acc {100 * m[name]['acc']:.2f} vs {100 * m[base]['acc']:.2f} % ({100 * gain:+.2f} points; "
                f"standard error of the difference {100 * se_gain:.2f} points over {n} questions)")
    snn = [b for b in gains if b != "teacher"]
    if "teacher" in gains and snn:
        (g_s, se_s, name_s), (g_t, se_t, name_t) = gains[snn[0]], gains["teacher"]
        se_both = math.sqrt(se_s ** 2 + se_t ** 2)
        add(f"The SNN gains more from RL than Mamba2 does (Table 2, §5.1): {name_s} − {snn[0]} vs "
            f"{name_t} − teacher", verdict(g_s - g_t, NOISE_SE * se_both),
            f"gain {100 * g_s:+.2f} vs {100 * g_t:+.2f} points ({100 * (g_s - g_t):+.2f}; standard error "
            f"{100 * se_both:.2f})")
    r = {k: m[k]["energy_ratio"] for k in BASE_STUDENTS}
    add("LIF is the most energy-efficient and TI-LIF the least (Figure 2)",
        HELD if r[lif] == max(r.values()) and min(r[tilif], r[sgc]) == min(r.values()) else NOT_HELD,
        ", ".join(f"E_A/E_S {k} {v:.2f}" for k, v in r.items()))
    others = [k for k in m if k != "teacher" and meta.get("aligned", {}).get(k) != "teacher"]   # the spiking rows
    best_ppl = min(others, key=lambda k: m[k]["ppl"])
    best_acc = max(others, key=lambda k: m[k]["acc"])
    acc_margin = m["teacher"]["acc"] - m[best_acc]["acc"]
    acc_se = math.sqrt(acc_stderr(m["teacher"]["acc"], n) ** 2 + acc_stderr(m[best_acc]["acc"], n) ** 2)
    add("The pretrained teacher beats every spiking model (lowest perplexity, highest accuracy; the method's premise)",
        NOT_HELD if m["teacher"]["ppl"] >= m[best_ppl]["ppl"] or verdict(acc_margin, NOISE_SE * acc_se) == NOT_HELD
        else HELD if acc_margin > 0 else NOISE,
        f"teacher PPL {m['teacher']['ppl']:.2f} vs best other {best_ppl} {m[best_ppl]['ppl']:.2f}; acc "
        f"{100 * m['teacher']['acc']:.2f} vs best other {best_acc} {100 * m[best_acc]['acc']:.2f} % "
        f"({100 * acc_margin:+.2f} points, standard error {100 * acc_se:.2f})")
    return claims


def report_markdown(summary: dict, figures: dict[str, str]) -> str:
    """``report.md``: how it was run, the table, the claims, the figures, what the numbers mean."""
    meta = summary["meta"]
    claims = check_claims(summary)
    timing = meta["seconds"]
    lines = [
        "# SpikingMamba demo report", "",
        f"Command: `{meta['command']}` (preset `{meta['preset']}`), {meta['date']}; total wall time "
        f"**{timing['total'] / 60:.1f} min** on {meta['threads']} CPU thread(s)"
        + f" (teacher: {meta['teacher_source']})" + ".", "",
        "## Table (Table 2 in miniature)", "",
        table_markdown(summary), "",
        f"Perplexity: held-out chapters (never trained on; {meta['ppl_tokens']:,} tokens scored), "
        f"sliding windows of {meta['seq_len']} tokens. Accuracy: the zero-shot verse-ending task through "
        f"lm-eval (`{meta['task']}`, {meta['mc_questions']} questions, 4 choices, chance 25 %), scored by "
        "acc_mutual_info: the ending with the highest log p(ending | context) − log p(ending); "
        f"one standard error ≈ {100 * acc_stderr(0.5, meta['mc_questions']):.1f} points. fr: Table 12 firing "
        "rates of the neurons before in_proj (fr_in) and out_proj (fr_out), mean over layers, on held-out "
        "text; E_A/E_S: Appendix D energy model at the demo's shape with those rates.", "",
        "## The paper's claims at this scale", "",
    ]
    lines += [f"- **{c['verdict']}** — {c['claim']}: {c['evidence']}." for c in claims]
    lines += ["", f"Reading these: *within noise* means the difference is smaller than the spread between the two "
              f"seeds (data orders) of the same configuration for perplexity, or than {NOISE_SE:g} standard errors "
              "of the difference (or that seed spread) for accuracy, so it is not evidence either way. E_A/E_S is smaller "
              "than the paper's figures for 130M/1.3B because at this width the dense SSM part is a larger share "
              "of the energy (Figure 2: larger models gain more). What was tried while tuning the recipe, and "
              "why it is what it is: `pipelines/demo/TUNING.md`.", "", "## Figures", ""]
    lines += [f"![{name}]({path})" for name, path in figures.items()]
    lines += ["", "## Set-up", ""]
    lines += [f"- {line}" for line in meta["setup"]]
    lines += ["", "## Wall time per stage", "", "| stage | seconds |", "|---|---:|"]
    lines += [f"| {name} | {sec:.1f} |" for name, sec in timing.items()]
    return "\n".join(lines) + "\n"
