"""Alignment stage (§4.3, Eq 14–15): DPO / KTO of a distilled SpikingMamba with TRL, SGC kept (§5.3).

``python -m pipelines rl --config FILE.yaml [key=value ...]``; see ``cli.py`` for examples and
``config.py`` for every setting. Files: ``config`` (settings), ``data`` (preference data), ``policy``
(policy, reference, tokenizer, TRL adaptation), ``trainer`` (TRL trainers + L_hidden + checkpoints),
``train`` (the run).
"""
from pipelines.rl.cli import main

__all__ = ["main"]
