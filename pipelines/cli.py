"""The command line shared by the training pipelines:
``--config FILE.yaml [--resume [--allow-config-change KEY,...]] [key=value | --key value | --key=value ...]``.

A pipeline passes its settings dataclass (``pipelines.config``) and its ``run(cfg)``; the settings, their
defaults and help are listed by ``--help``, and errors a user can fix from the message alone are printed
without a traceback (exit status 1; ``--debug`` shows it: `models.errors.run_command`).

HfArgumentParser / TrlParser were considered: they map dataclass fields to ``--key value`` too, but accept
no union beyond ``Optional`` (``resume: bool | "auto"``, ``data: str | dict``) and no ``dict`` values, and do
not read values as YAML; so overrides stay YAML and the HF spellings are rewritten to ``key=value``
(``pipelines.config.normalize_flags``).
"""
from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable

from models.errors import run_command
from pipelines.config import PATHS_HELP, format_help, load_config, normalize_flags

OWN_FLAGS = {"config", "resume", "debug", "allow_config_change", "help"}
"""Flags of the command itself (never rewritten as config overrides)."""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the epilog's layout and shows every option's default."""


def config_command(argv: list[str] | None, *, prog: str, description: str, schema: type, example: str,
                   run: Callable[[object], object], epilog: str = "") -> int:
    """Parse ``argv``, build ``schema`` from the YAML file and overrides, call ``run(cfg)``; 0 or 1."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=_HelpFormatter,
        epilog=epilog + "config keys (YAML file, or overrides key=value / --key value / --key=value; values are "
                        f"YAML).\n{textwrap.fill(PATHS_HELP, 100)}\n" + format_help(schema))
    parser.add_argument("--config", help=f"YAML config file (e.g. {example})")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint (= resume=true)")
    parser.add_argument("--allow-config-change", metavar="KEY[,KEY]", default="",
                        help="with --resume: keys that may differ from the run's saved config (e.g. lr); "
                             "recorded in OUTPUT_DIR/config_history.jsonl")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="override config keys (values are YAML)")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")

    def main(argv: list[str]) -> None:
        args = parser.parse_intermixed_args(normalize_flags(schema, argv, OWN_FLAGS))
        extra = ["resume=true"] if args.resume else []
        if args.allow_config_change:
            keys = [k.strip() for k in args.allow_config_change.split(",") if k.strip()]
            extra.append(f"allow_config_change=[{', '.join(keys)}]")
        run(load_config(schema, args.config, list(args.overrides) + extra))

    return run_command(main, sys.argv[1:] if argv is None else argv)
