"""``summary.json`` → the Table-2-style table, the paper's claims checked, and ``report.md``.

Everything printed or written here is computed from ``summary.json`` alone (``summary["models"]``
and ``summary["meta"]``), so the table can always be regenerated from the file:

    python -c "from pipelines.demo.report import *; print(table_markdown(load_summary('runs/demo/summary.json')))"

``summary["models"][NAME]`` = ``{"ppl", "acc", "fr_in", "fr_out", "energy_ratio"}`` for NAME in teacher,
the students of ``recipe.STUDENTS`` and the aligned one (``<student>_dpo`` / ``<student>_kto``); acc is a
fraction, ppl the held-out perplexity, fr Table 12's firing rate (mean over layers), energy_ratio
E_A/E_S; the teacher's fr are null and its energy_ratio 1. "Diff" is acc − teacher acc in points.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from pipelines.demo.recipe import STUDENTS

SUMMARY_KEYS = ("ppl", "acc", "fr_in", "fr_out", "energy_ratio")
BASE_STUDENTS = tuple(s.name for s in STUDENTS)


def load_summary(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def aligned_name(models: dict) -> str | None:
    """The one model that is neither the teacher nor a base student (``<student>_dpo|kto``)."""
    extra = [n for n in models if n != "teacher" and n not in BASE_STUDENTS]
    return extra[0] if extra else None


def model_rows(summary: dict) -> list[tuple[str, dict]]:
    models = summary["models"]
    return [(name, models[name]) for name in ("teacher", *BASE_STUDENTS, aligned_name(models)) if name in models]


def student_name(neuron: str, sgc: bool) -> str:
    """The name of the student with this neuron kind and SGC in ``STUDENTS``."""
    return next(s.name for s in STUDENTS if (s.neuron, s.sgc) == (neuron, sgc))


def _num(value, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def acc_stderr(acc: float, n: int) -> float:
    """Binomial standard error of an accuracy over ``n`` questions."""
    return math.sqrt(max(acc * (1 - acc), 1e-12) / n)


def table_markdown(summary: dict) -> str:
    """The Table-2-style table (markdown) from ``summary.json``."""
    models, meta = summary["models"], summary.get("meta", {})
    labels = meta.get("labels", {})
    teacher_acc = models["teacher"]["acc"]
    lines = ["| model | step (T×D) | SGC | held-out PPL ↓ | verse-ending acc (%) ↑ | Diff | fr_in | fr_out | E_A/E_S ↑ |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, m in model_rows(summary):
        info = labels.get(name, {})
        diff = "–" if name == "teacher" else f"{100 * (m['acc'] - teacher_acc):+.2f}"
        lines.append(f"| {name} | {info.get('step', '')} | {info.get('sgc', '')} | {_num(m['ppl'], '.2f')} | "
                     f"{100 * m['acc']:.2f} | {diff} | {_num(m['fr_in'], '.4f')} | {_num(m['fr_out'], '.4f')} | "
                     f"{m['energy_ratio']:.2f} |")
    return "\n".join(lines)


PPL_TOLERANCE = 0.01   # "does not hurt": perplexity at most 1 % higher (seeds move it by about that much)


def check_claims(summary: dict) -> list[dict]:
    """The paper's claims at this scale, each ``{"claim", "holds", "evidence"}`` (numbers from the summary).

    Accuracy differences are set beside their binomial standard error (n = the task's questions);
    "does not hurt" allows ``PPL_TOLERANCE`` and one standard error of accuracy.
    """
    m = summary["models"]
    n = summary.get("meta", {}).get("mc_questions") or 1
    claims = []

    def add(claim, holds, evidence):
        claims.append({"claim": claim, "holds": bool(holds), "evidence": evidence})

    def se_diff(a: str, b: str) -> float:
        return math.sqrt(acc_stderr(m[a]["acc"], n) ** 2 + acc_stderr(m[b]["acc"], n) ** 2)

    lif, ilif, tilif = (student_name(kind, sgc=False) for kind in ("lif", "ilif", "tilif"))
    sgc = student_name("tilif", sgc=True)
    p = {k: m[k]["ppl"] for k in BASE_STUDENTS}
    add("TI-LIF beats I-LIF beats LIF on perplexity (Tables 4–5)", p[tilif] < p[ilif] < p[lif],
        f"PPL {tilif} {p[tilif]:.2f}, {ilif} {p[ilif]:.2f}, {lif} {p[lif]:.2f}")
    acc_gap = m[sgc]["acc"] - m[tilif]["acc"]
    sgc_evidence = (f"PPL {sgc} {p[sgc]:.2f} vs {tilif} {p[tilif]:.2f} "
                    f"({100 * (p[sgc] / p[tilif] - 1):+.1f} %); acc {100 * m[sgc]['acc']:.2f} vs "
                    f"{100 * m[tilif]['acc']:.2f} % ({100 * acc_gap:+.2f} points, standard error of the difference "
                    f"{100 * se_diff(sgc, tilif):.2f})")
    add(f"SGC does not hurt (Table 6): perplexity at most {100 * PPL_TOLERANCE:.0f} % higher and accuracy at most "
        "one standard error lower with SGC", p[sgc] <= p[tilif] * (1 + PPL_TOLERANCE)
        and acc_gap >= -se_diff(sgc, tilif), sgc_evidence)
    add("SGC helps (Tables 4 and 6): lower perplexity with SGC", p[sgc] < p[tilif], sgc_evidence)
    aligned = aligned_name(m)
    if aligned:
        base = aligned.rsplit("_", 1)[0]
        gain = m[aligned]["acc"] - m[base]["acc"]
        add(f"RL improves accuracy (Table 2): {aligned} vs {base}", gain > 0,
            f"acc {100 * m[aligned]['acc']:.2f} vs {100 * m[base]['acc']:.2f} % ({100 * gain:+.2f} points; "
            f"standard error of the difference {100 * se_diff(aligned, base):.2f} points over {n} questions)")
    r = {k: m[k]["energy_ratio"] for k in BASE_STUDENTS}
    add("LIF is the most energy-efficient and TI-LIF the least (Figure 2)",
        r[lif] == max(r.values()) and min(r[tilif], r[sgc]) == min(r.values()),
        ", ".join(f"E_A/E_S {k} {v:.2f}" for k, v in r.items()))
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
        + (" with the cached teacher" if meta["teacher_cached"] else "") + ".", "",
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
    lines += [f"- **{'holds' if c['holds'] else 'does not hold'}** — {c['claim']}: {c['evidence']}." for c in claims]
    lines += ["", "Reading these: accuracy differences below about two standard errors are within the spread "
              "between training runs of the *same* configuration with different data orders (up to ±3 points "
              "here; perplexity moves by about 0.1 %), so they are not evidence either way. E_A/E_S is smaller "
              "than the paper's figures for 130M/1.3B because at this width the dense SSM part is a larger share "
              "of the energy (Figure 2: larger models gain more). What was tried while tuning the recipe, and "
              "why it is what it is: `pipelines/demo/TUNING.md`.", "", "## Figures", ""]
    lines += [f"![{name}]({path})" for name, path in figures.items()]
    lines += ["", "## Set-up", ""]
    lines += [f"- {line}" for line in meta["setup"]]
    lines += ["", "## Wall time per stage", "", "| stage | seconds |", "|---|---:|"]
    lines += [f"| {name} | {sec:.1f} |" for name, sec in timing.items()]
    return "\n".join(lines) + "\n"
