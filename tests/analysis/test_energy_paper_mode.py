"""Paper mode stays exact: the two commands of issue 13's "Done when" print, byte for byte, what they printed
before the regimes, memory model and baselines were added (main at 868bfe2), and config-only runs never import
torch."""

import subprocess
import sys
from pathlib import Path

import pytest

ENERGY_ARGS = ["energy", "--config", "mamba2-1.3b", "--neuron", "tilif", "--D", "4", "--fr-in", "0.2499",
               "--fr-out", "0.0619", "--json"]

DATA = Path(__file__).parent / "data"  # the outputs captured at 868bfe2
PAPER_TABLES_OUT = (DATA / "paper_tables_868bfe2.txt").read_text()
ENERGY_OUT = (DATA / "energy_1.3b_tilif_868bfe2.json").read_text()


def _run(args):
    return subprocess.run([sys.executable, "-m", "analysis", *args], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("args, expected", [(["paper-tables"], PAPER_TABLES_OUT), (ENERGY_ARGS, ENERGY_OUT)],
                         ids=["paper-tables", "energy-1.3b-tilif"])
def test_paper_mode_prints_exactly_what_it_printed(args, expected):
    assert _run(args) == expected


@pytest.mark.parametrize("extra", [[], ["--regime", "int8", "--memory"]], ids=["paper", "int8-memory"])
def test_config_only_energy_never_imports_torch(extra):
    code = ("import sys; from analysis.__main__ import main; "
            "main(%r); assert 'torch' not in sys.modules, 'torch imported'" % (ENERGY_ARGS + extra,))
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
