"""The command line shared by the training pipelines: ``--config FILE.yaml [--resume] [key=value ...]``.

A pipeline passes its settings dataclass (``pipelines.config``) and its ``run(cfg)``; the settings and
their help are listed by ``--help``, and errors a user can fix from the message alone are printed
without a traceback (exit status 1; ``--debug`` shows it: `models.errors.run_command`).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from models.errors import run_command
from pipelines.config import format_help, load_config


def config_command(argv: list[str] | None, *, prog: str, description: str, schema: type, example: str,
                   run: Callable[[object], object], epilog: str = "") -> int:
    """Parse ``argv``, build ``schema`` from the YAML file and overrides, call ``run(cfg)``; 0 or 1."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=epilog + "config keys (YAML file or key=value overrides):\n" + format_help(schema))
    parser.add_argument("--config", help=f"YAML config file (e.g. {example})")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint (= resume=true)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="override config keys (values are YAML)")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")

    def main(argv: list[str]) -> None:
        args = parser.parse_args(argv)
        run(load_config(schema, args.config, list(args.overrides) + (["resume=true"] if args.resume else [])))

    return run_command(main, sys.argv[1:] if argv is None else argv)
