"""Every setting of ``python -m pipelines distill``, with its default and meaning (the shared
optimisation/run keys come from ``pipelines.config.TrainingConfig``).

Defaults follow Appendix C where the paper gives a value; the paper presets
(``pipelines/configs/paper_*.yaml``) spell them out, and ``distill_tiny.yaml`` shrinks them for a CPU.
"""
from __future__ import annotations

import dataclasses
from typing import Literal

from neurons.kinds import CHOICES
from pipelines.config import TrainingConfig, field_


@dataclasses.dataclass
class DistillConfig(TrainingConfig):
    # --- models -------------------------------------------------------------------------------------
    teacher: str | None = field_(None, "Mamba2 teacher: hub name (state-spaces/mamba2-1.3b) or local dir; "
                                       "null builds a tiny random teacher (tiny_teacher) in OUTPUT_DIR", path=True)
    tiny_teacher: dict = field_({}, "shape of the tiny teacher built when teacher is null "
                                    "(keyword arguments of models.tiny.save_tiny_mamba2)")
    student_init: str | None = field_(None, "weights the student starts from; null = the teacher's (the paper)",
                                      path=True)
    tokenizer: str | None = field_(None, "tokenizer; null = the one saved with the teacher. The Mamba2 hub "
                                         "checkpoints use EleutherAI/gpt-neox-20b", path=True)
    neuron: Literal[CHOICES] = field_("tilif", "student neuron before in/out proj (§4.1)")
    D: int = field_(4, "spike amplitude / max integer of I-LIF and TI-LIF (LIF forces 1)")
    sgc_layers: list[int] | None = field_(None, "layers with an SGC branch (Eq 10–11); null = first, middle, last")
    # --- objective ----------------------------------------------------------------------------------
    objective: Literal["kl", "ce"] = field_("kl", "kl: L = L_KL + λ·L_hidden against the teacher (Eq 12–13); ce: "
                                                  "L = next-token CE on the data + λ·L_hidden, no teacher forward "
                                                  "(pretraining from the teacher's weights or a random tiny_teacher, "
                                                  "as the demo's teacher is)")
    hidden_weight: float = field_(1.0, "λ in L = L_KL + λ·L_hidden (Eq 12; the paper uses 1)")
    kl_temperature: float = field_(1.0, "softmax temperature τ of Eq 13's KL (scaled by τ²); paper: 1")
    pseudo_labels: bool = field_(False, "true (the paper, §4.3): the teacher answers the prompts of the "
                                        "instruction datasets and the student learns the responses ŷ, loss on ŷ "
                                        "only (Eq 13; pseudo_labels.py); false: KL on every token of packed text")
    max_new_tokens: int = field_(1024, "pseudo-labels: most tokens of a response ŷ (generation stops at EOS); "
                                       "prompts longer than seq_len - max_new_tokens are dropped (not in the paper)")
    pseudo_label_batch_size: int = field_(8, "pseudo-labels: prompts per teacher generate() call per process")
    pseudo_label_sampling: Literal["greedy", "sample"] = field_("greedy", "how the teacher generates ŷ "
                                                                "(sample: full distribution, seeded by seed and "
                                                                "the batch's first prompt)")
    # --- data ---------------------------------------------------------------------------------------
    datasets: list = field_([], "hub dataset names or local .txt/.jsonl files; an entry may be a mapping "
                                "{path, name, split, field} (split 'a+b' joins splits). With pseudo_labels: "
                                "instruction data (field: messages / conversations / prompt)", path=True)
    seq_len: int = field_(2048, "tokens per sequence (Appendix C: 2048): packed text, or with pseudo_labels "
                                "one prompt + response, right-padded")
    eval_datasets: list = field_([], "held-out data (same forms as datasets): the mean of each loss term over "
                                     "it is logged as heldout_<term> every eval_every steps and at the end", path=True)
    eval_sequences: int | None = field_(None, "packed held-out sequences evaluated (null: all)")
    # --- defaults that differ from TrainingConfig's ---------------------------------------------------
    output_dir: str = field_("runs/distill", "checkpoints, metrics.jsonl, config.yaml and final/ go here")

    def __post_init__(self):
        super().__post_init__()
        for key in ("D", "max_new_tokens", "pseudo_label_batch_size", "eval_sequences"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ValueError(f"{key}={getattr(self, key)} must be >= 1")
        if self.seq_len < 2:
            raise ValueError(f"seq_len={self.seq_len}: a sequence needs at least 2 tokens to predict one")
        if not (self.kl_temperature > 0 and self.hidden_weight >= 0):
            raise ValueError(f"need kl_temperature > 0 and hidden_weight >= 0; got kl_temperature="
                             f"{self.kl_temperature}, hidden_weight={self.hidden_weight}")
        if self.pseudo_labels and self.max_new_tokens >= self.seq_len:
            raise ValueError(f"max_new_tokens={self.max_new_tokens} must be < seq_len={self.seq_len} so that "
                             "prompt + response fit one sequence")
        if self.objective == "ce" and self.pseudo_labels:
            raise ValueError("pseudo_labels=true needs the teacher to generate ŷ; objective=ce trains without one")
        if self.eval_every is not None and not self.eval_datasets:
            raise ValueError(f"eval_every={self.eval_every} but eval_datasets is empty: give held-out data "
                             "or drop eval_every")
        if not self.datasets:
            raise ValueError("datasets is empty: give hub dataset names or local .txt/.jsonl files, "
                             "e.g. datasets=[pipelines/configs/data/tiny_corpus.txt]")
