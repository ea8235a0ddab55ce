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

import argparse
import sys

from pipelines.config import format_help, load_config
from pipelines.rl.config import RLConfig

# Errors a user can fix from the message alone: printed without a traceback.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, FloatingPointError)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines rl",
        description="Align a distilled SpikingMamba with DPO (Eq 14) or KTO (Eq 15) through TRL, keeping the "
                    "SGC branch (L = L_DPO/KTO + λ·L_hidden).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="config keys (YAML file or key=value overrides):\n" + format_help(RLConfig),
    )
    parser.add_argument("--config", help="YAML config file (e.g. pipelines/configs/rl_tiny.yaml)")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint (= resume=true)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="override config keys (values are YAML)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    overrides = list(args.overrides) + (["resume=true"] if args.resume else [])
    try:
        cfg = load_config(RLConfig, args.config, overrides)
        from pipelines.rl.train import run

        run(cfg)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
