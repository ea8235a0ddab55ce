"""Alignment stage (§4.3, Eq 14–15): plain DPO / KTO with TRL of a distilled SpikingMamba (or of the dense
Mamba2, Table 2's baselines); ``sgc=true`` optionally keeps an SGC branch and adds λ·L_hidden.

``python -m pipelines rl --config FILE.yaml [key=value ...]``; see ``cli.py`` for examples and
``config.py`` for every setting. Files: ``config`` (settings), ``data`` (preference data), ``policy``
(policy, reference, tokenizer, TRL adaptation), ``trainer`` (TRL trainers + L_hidden + checkpoints),
``train`` (the run).
"""
from pipelines.rl.cli import main

__all__ = ["main"]
