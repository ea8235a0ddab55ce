"""Tables 8 and 9 of the paper as printed, and their reproduction by :mod:`analysis.energy`.

Every energy column of every row is reproduced to the printed 4 decimals from the row's shape and firing
rates — but for four rows only with the rates the paper's energy columns were evidently computed with, which
differ from the printed rates (:attr:`PaperRow.rates_used`, found by inverting E = k·fr·d_in·d_out·E_ADD):

* Table 8, LIF 1×1: Out Proj 4.0259 is fr_out = 0.1580 (printed 0.1583 gives 4.0335); Total and E_A/E_S
  agree with 0.1580.
* Table 8, I-LIF 1×4: In Proj 73.1770 is fr_in = 0.3290 (printed 0.3294 gives 73.2660).
* Table 9, TI-LIF 1×±4 without SGC: the energies are fr_in = 0.25292, fr_out = 0.06117; the printed
  0.2529 / 0.0612 are those rounded to 4 digits (with them: In −0.060, Out +0.043). Its printed Total
  1299.3588 is a typo for 1299.3538 — the sum of the row's own columns, and the value Table 13 prints.
* Table 9, +DPO / +KTO: the energy columns sit in the other row. DPO's printed rates (0.2533, 0.0633) give
  exactly the +KTO row's energies (763.0280, 91.7566, 1303.5860, 4.7178); the +DPO row's energies are fr_in
  = 0.2523 (KTO's printed fr_in) and fr_out = 0.0642 (KTO's printed 0.0624 with two digits swapped).

With ``rates_used`` every printed number is reproduced within 5e-5 (the printed rounding), except that one
Total (off by 0.0050). Table 13 also prints a 130M TI-LIF Total of 172.5421 (ratio 2.8901) that differs
from Table 8's 174.4078 and comes without firing rates, so it cannot be reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass

from analysis.energy import energy_report, preset

COLUMNS = ("in_proj", "out_proj", "ssm", "others", "total", "ratio")


@dataclass(frozen=True)
class PaperRow:
    """One printed row. Energies in 1e6 pJ; ``rates_used`` = (fr_in, fr_out) behind the printed energies."""

    table: int
    label: str
    config: str
    neuron: str
    D: int
    sgc: bool | None
    fr_in: float | None
    fr_out: float | None
    printed: dict
    rates_used: tuple[float, float] | None = None
    typos: tuple[str, ...] = ()  # printed cells that disagree with the row's own other cells

    @property
    def effective_rates(self) -> tuple[float | None, float | None]:
        return self.rates_used or (self.fr_in, self.fr_out)


def _row(table, label, config, neuron, D, sgc, fr_in, fr_out, values, rates_used=None, typos=()) -> PaperRow:
    return PaperRow(
        table, label, config, neuron, D, sgc, fr_in, fr_out, dict(zip(COLUMNS, values)), rates_used, typos
    )


M130, M13 = "mamba2-130m", "mamba2-1.3b"
TABLES: tuple[PaperRow, ...] = (
    _row(8, "Mamba2", M130, "none", 1, None, None, None, (284.2067, 130.2331, 82.7476, 1.4733, 498.6607, 1)),
    _row(8, "LIF 1x1", M130, "lif", 1, False, 0.3180, 0.1583,
         (17.6826, 4.0259, 82.7476, 1.4733, 105.9294, 4.7075), rates_used=(0.3180, 0.1580)),
    _row(8, "I-LIF 1x4", M130, "ilif", 4, False, 0.3294, 0.0509,
         (73.1770, 5.1878, 82.7476, 1.4733, 162.5858, 3.0671), rates_used=(0.3290, 0.0509)),
    _row(8, "TI-LIF 1x±4", M130, "tilif", 4, False, 0.3498, 0.1215,
         (77.8034, 12.3835, 82.7476, 1.4733, 174.4078, 2.8592)),
    _row(8, "TI-LIF 1x±4 +SGC", M130, "tilif", 4, True, 0.3476, 0.1236,
         (77.3141, 12.5975, 82.7476, 1.4733, 174.1325, 2.8637)),
    _row(9, "Mamba2", M13, "none", 1, None, None, None, (3849.1128, 1852.2046, 441.3204, 7.4809, 6150.1188, 1)),
    _row(9, "LIF 1x1", M13, "lif", 1, False, 0.1605, 0.1483,
         (120.8705, 53.7421, 441.3204, 7.4809, 623.4140, 9.8652)),
    _row(9, "I-LIF 1x4", M13, "ilif", 4, False, 0.2196, 0.0156,
         (661.5119, 22.6130, 441.3204, 7.4809, 1132.9263, 5.4285)),
    _row(9, "TI-LIF 1x±4", M13, "tilif", 4, False, 0.2529, 0.0612,
         (761.8833, 88.6691, 441.3204, 7.4809, 1299.3588, 4.7332), rates_used=(0.25292, 0.06117),
         typos=("total",)),
    _row(9, "TI-LIF 1x±4 +SGC", M13, "tilif", 4, True, 0.2499, 0.0619,
         (752.7860, 89.7272, 441.3204, 7.4809, 1291.3147, 4.7627)),
    _row(9, "+DPO", M13, "tilif", 4, True, 0.2533, 0.0633,
         (760.0157, 93.0612, 441.3204, 7.4809, 1301.8783, 4.7240), rates_used=(0.2523, 0.0642)),
    _row(9, "+KTO", M13, "tilif", 4, True, 0.2523, 0.0624,
         (763.0280, 91.7566, 441.3204, 7.4809, 1303.5860, 4.7178), rates_used=(0.2533, 0.0633)),
)


def reproduce(row: PaperRow, rates: str = "used") -> dict:
    """Our Table 8/9 columns for ``row``, from its shape and its printed (``rates="printed"``) or
    energy-consistent (``rates="used"``) firing rates."""
    if rates not in ("used", "printed"):
        raise ValueError(f"rates={rates!r}; choose 'used' or 'printed'")
    fr_in, fr_out = row.effective_rates if rates == "used" else (row.fr_in, row.fr_out)
    rep = energy_report(preset(row.config), row.neuron, D=row.D, fr_in=fr_in, fr_out=fr_out)
    return {**{c: rep["components"][c] for c in COLUMNS[:4]}, "total": rep["total"], "ratio": rep["ratio"]}


def comparison(rates: str = "used") -> list[dict]:
    """Every row of Tables 8–9: printed values, ours, and ours − printed, per column (JSON-ready)."""
    out = []
    for row in TABLES:
        ours = reproduce(row, rates)
        out.append({
            "table": row.table, "label": row.label, "config": row.config, "neuron": row.neuron, "D": row.D,
            "sgc": row.sgc, "fr_in": row.fr_in, "fr_out": row.fr_out,
            "rates_used": list(row.effective_rates if rates == "used" else (row.fr_in, row.fr_out)),
            "paper": row.printed, "ours": ours, "diff": {c: ours[c] - row.printed[c] for c in COLUMNS},
        })
    return out


def format_comparison(rows: list[dict]) -> str:
    """Plain-text table: for each row, a "paper" line and an "ours" line."""
    head = f"{'':<9}{'row':<18}{'fr_in':>8}{'fr_out':>8}" + "".join(f"{c:>11}" for c in COLUMNS)
    lines = [head]
    for r in rows:
        for who in ("paper", "ours"):
            fr = (r["fr_in"], r["fr_out"]) if who == "paper" else r["rates_used"]
            frs = "".join(f"{'-' if v is None else format(v, '.5g'):>8}" for v in fr)
            vals = "".join(f"{r[who][c]:>11.4f}" for c in COLUMNS)
            lines.append(f"T{r['table']} {who:<6}{r['label']:<18}{frs}{vals}")
    return "\n".join(lines)
