"""``python -m pipelines distill --config FILE.yaml [--resume] [key=value ...]``

Examples::

    python -m pipelines distill --config pipelines/configs/distill_tiny.yaml          # CPU, offline, ~1 min
    python -m pipelines distill --config pipelines/configs/paper_1.3b.yaml output_dir=runs/sm-1.3b
    accelerate launch --config_file pipelines/accelerate/deepspeed_zero3.yaml \\
        -m pipelines distill --config pipelines/configs/paper_1.3b.yaml
    python -m pipelines distill --config ... --resume                           # continue after a crash
"""
from __future__ import annotations

from pipelines.cli import config_command
from pipelines.distill.config import DistillConfig


def run(cfg: DistillConfig):
    from pipelines.distill.train import run as distill  # torch and the models load only once the config is valid

    return distill(cfg)


def main(argv: list[str] | None = None) -> int:
    return config_command(
        argv, prog="python -m pipelines distill", schema=DistillConfig,
        example="pipelines/configs/distill_tiny.yaml", run=run,
        description="Single-stage distillation of a SpikingMamba student from a Mamba2 teacher "
                    "(L = L_KL + λ·L_hidden, Eq 12-13).",
        epilog="examples:" + __doc__.split("Examples::")[1] + "\n")
