"""Paper mode stays exact: the two commands of issue 13's "Done when" print, byte for byte, what they printed
before the regimes, memory model and baselines were added (main at 868bfe2), and config-only runs never import
torch."""

import subprocess
import sys

import pytest

ENERGY_ARGS = ["energy", "--config", "mamba2-1.3b", "--neuron", "tilif", "--D", "4", "--fr-in", "0.2499",
               "--fr-out", "0.0619", "--json"]

PAPER_TABLES_OUT = """\
         row                  fr_in  fr_out    in_proj   out_proj        ssm     others      total      ratio
T8 paper Mamba2                   -       -   284.2067   130.2331    82.7476     1.4733   498.6607     1.0000
T8 ours  Mamba2                   -       -   284.2067   130.2331    82.7476     1.4733   498.6607     1.0000
T8 paper LIF 1x1              0.318  0.1583    17.6826     4.0259    82.7476     1.4733   105.9294     4.7075
T8 ours  LIF 1x1              0.318   0.158    17.6826     4.0259    82.7476     1.4733   105.9294     4.7075
T8 paper I-LIF 1x4           0.3294  0.0509    73.1770     5.1878    82.7476     1.4733   162.5858     3.0671
T8 ours  I-LIF 1x4            0.329  0.0509    73.1770     5.1878    82.7476     1.4733   162.5858     3.0671
T8 paper TI-LIF 1x±4         0.3498  0.1215    77.8034    12.3835    82.7476     1.4733   174.4078     2.8592
T8 ours  TI-LIF 1x±4         0.3498  0.1215    77.8034    12.3835    82.7476     1.4733   174.4078     2.8592
T8 paper TI-LIF 1x±4 +SGC    0.3476  0.1236    77.3141    12.5975    82.7476     1.4733   174.1325     2.8637
T8 ours  TI-LIF 1x±4 +SGC    0.3476  0.1236    77.3141    12.5975    82.7476     1.4733   174.1325     2.8637
T9 paper Mamba2                   -       -  3849.1128  1852.2046   441.3204     7.4809  6150.1188     1.0000
T9 ours  Mamba2                   -       -  3849.1128  1852.2046   441.3204     7.4809  6150.1188     1.0000
T9 paper LIF 1x1             0.1605  0.1483   120.8705    53.7421   441.3204     7.4809   623.4140     9.8652
T9 ours  LIF 1x1             0.1605  0.1483   120.8705    53.7421   441.3204     7.4809   623.4140     9.8652
T9 paper I-LIF 1x4           0.2196  0.0156   661.5119    22.6130   441.3204     7.4809  1132.9263     5.4285
T9 ours  I-LIF 1x4           0.2196  0.0156   661.5119    22.6130   441.3204     7.4809  1132.9263     5.4285
T9 paper TI-LIF 1x±4         0.2529  0.0612   761.8833    88.6691   441.3204     7.4809  1299.3588     4.7332
T9 ours  TI-LIF 1x±4        0.25292 0.06117   761.8833    88.6691   441.3204     7.4809  1299.3538     4.7332
T9 paper TI-LIF 1x±4 +SGC    0.2499  0.0619   752.7860    89.7272   441.3204     7.4809  1291.3147     4.7627
T9 ours  TI-LIF 1x±4 +SGC    0.2499  0.0619   752.7860    89.7272   441.3204     7.4809  1291.3147     4.7627
T9 paper +DPO                0.2533  0.0633   760.0157    93.0612   441.3204     7.4809  1301.8783     4.7240
T9 ours  +DPO                0.2523  0.0642   760.0157    93.0612   441.3204     7.4809  1301.8783     4.7240
T9 paper +KTO                0.2523  0.0624   763.0280    91.7566   441.3204     7.4809  1303.5860     4.7178
T9 ours  +KTO                0.2533  0.0633   763.0280    91.7566   441.3204     7.4809  1303.5860     4.7178
"""

ENERGY_OUT = """\
{
  "unit": "1e6 pJ per token",
  "shape": {
    "d_model": 2048,
    "n_layer": 48,
    "d_state": 128,
    "headdim": 64,
    "expand": 2,
    "ngroups": 1,
    "d_conv": 4
  },
  "constants_pJ": {
    "mac": 4.6,
    "mul": 3.7,
    "add": 0.9
  },
  "neuron_in": "tilif",
  "neuron_out": "tilif",
  "D": 4,
  "T": 1,
  "k_in": 4,
  "k_out": 4,
  "fr_in": 0.2499,
  "fr_out": 0.0619,
  "neuron_ops_counted": false,
  "components": {
    "in_proj": 752.78604828672,
    "out_proj": 89.72723552256,
    "ssm": 441.320448,
    "others": 7.480934400000001,
    "total": 1291.31466620928
  },
  "total": 1291.31466620928,
  "mamba2": {
    "in_proj": 3849.1127807999997,
    "out_proj": 1852.2046464,
    "ssm": 441.320448,
    "others": 7.480934400000001,
    "total": 6150.1188096
  },
  "mamba2_total": 6150.1188096,
  "ratio": 4.762680213068428
}
"""


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
