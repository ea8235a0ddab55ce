"""``python -m pipelines rl --config FILE.yaml [--resume] [key=value ...]``

Examples::

    python -m pipelines rl --config pipelines/configs/rl_tiny.yaml                  # CPU, offline, seconds
    python -m pipelines rl --config pipelines/configs/rl_tiny.yaml loss=kto output_dir=runs/rl_tiny_kto
    python -m pipelines rl --config pipelines/configs/rl_paper.yaml policy=runs/spikingmamba-1.3b/final
    accelerate launch --config_file pipelines/accelerate/deepspeed_zero3.yaml \\
        -m pipelines rl --config pipelines/configs/rl_paper.yaml policy=... loss=kto
    python -m pipelines rl --config ... --resume                               # continue after a crash
"""
from __future__ import annotations

from pipelines.cli import config_command
from pipelines.rl.config import RLConfig


def run(cfg: RLConfig):
    from pipelines.rl.train import run as align  # TRL and the models load only once the config is valid

    return align(cfg)


def main(argv: list[str] | None = None) -> int:
    return config_command(
        argv, prog="python -m pipelines rl", schema=RLConfig, example="pipelines/configs/rl_tiny.yaml", run=run,
        description="Align a distilled SpikingMamba (or a dense Mamba2 baseline) with DPO (Eq 14) or KTO (Eq 15) "
                    "through TRL; sgc=true adds λ·L_hidden of an SGC branch (not in the paper).",
        epilog="examples:" + __doc__.split("Examples::")[1] + "\n")
