"""``python -m pipelines distill --config FILE.yaml [--resume] [key=value ...]``

Examples::

    python -m pipelines distill --config pipelines/configs/distill_tiny.yaml          # CPU, offline, ~1 min
    python -m pipelines distill --config pipelines/configs/paper_1.3b.yaml output_dir=runs/sm-1.3b
    accelerate launch --config_file pipelines/accelerate/deepspeed_zero3.yaml \\
        -m pipelines distill --config pipelines/configs/paper_1.3b.yaml
    python -m pipelines distill --config ... --resume                           # continue after a crash
"""
from __future__ import annotations

import argparse
import sys

from pipelines.config import format_help, load_config
from pipelines.distill.config import DistillConfig

# Errors a user can fix from the message alone: printed without a traceback.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, FloatingPointError)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines distill",
        description="Single-stage distillation of a SpikingMamba student from a Mamba2 teacher "
                    "(L = L_KL + λ·L_hidden, Eq 12-13).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="config keys (YAML file or key=value overrides):\n" + format_help(DistillConfig),
    )
    parser.add_argument("--config", help="YAML config file (e.g. pipelines/configs/distill_tiny.yaml)")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint (= resume=true)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="override config keys (values are YAML)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    overrides = list(args.overrides) + (["resume=true"] if args.resume else [])
    try:
        cfg = load_config(DistillConfig, args.config, overrides)
        from pipelines.distill.train import run

        run(cfg)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
