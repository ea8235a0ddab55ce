"""Every setting of ``python -m pipelines distill``, with its default and meaning.

Defaults follow Appendix C where the paper gives a value; the paper presets
(``pipelines/configs/paper_*.yaml``) spell them out, and ``distill_tiny.yaml`` shrinks them for a CPU.
"""
from __future__ import annotations

import dataclasses
from typing import Literal

from pipelines.config import field_

NEURONS = ("none", "lif", "ilif", "tilif")
# Keys that may change between a run and its resumption (everything else must match).
RESUMABLE_CHANGES = {"resume", "save_every", "keep_last", "log_every", "tensorboard"}


@dataclasses.dataclass
class DistillConfig:
    # --- models -------------------------------------------------------------------------------------
    teacher: str | None = field_(None, "Mamba2 teacher: hub name (state-spaces/mamba2-1.3b) or local dir; "
                                       "null builds a tiny random teacher (tiny_teacher) in OUTPUT_DIR")
    tiny_teacher: dict = field_({}, "shape of the tiny teacher built when teacher is null "
                                    "(keyword arguments of models.tiny.save_tiny_mamba2)")
    student_init: str | None = field_(None, "weights the student starts from; null = the teacher's (the paper)")
    tokenizer: str | None = field_(None, "tokenizer; null = the one saved with the teacher. The Mamba2 hub "
                                         "checkpoints use EleutherAI/gpt-neox-20b")
    neuron: Literal["none", "lif", "ilif", "tilif"] = field_("tilif", "student neuron before in/out proj (§4.1)")
    D: int = field_(4, "spike amplitude / max integer of I-LIF and TI-LIF (LIF forces 1)")
    sgc_layers: list[int] | None = field_(None, "layers with an SGC branch (Eq 10–11); null = first, middle, last")
    # --- objective ----------------------------------------------------------------------------------
    hidden_weight: float = field_(1.0, "λ in L = L_KL + λ·L_hidden (Eq 12; the paper uses 1)")
    kl_temperature: float = field_(1.0, "softmax temperature τ of Eq 13's KL (scaled by τ²); paper: 1")
    pseudo_labels: bool = field_(False, "train on teacher-generated continuations ŷ of each sequence's first "
                                        "prompt_length tokens (§4.3, Eq 13) instead of on the dataset text")
    prompt_length: int = field_(64, "prompt tokens x kept from the data when pseudo_labels is true")
    pseudo_label_sampling: Literal["greedy", "sample"] = field_("greedy", "how the teacher generates ŷ "
                                                                "(sample: seeded by seed and step)")
    # --- data ---------------------------------------------------------------------------------------
    datasets: list = field_([], "hub dataset names or local .txt/.jsonl files; an entry may be a mapping "
                                "{path, name, split, field} (split 'a+b' joins splits)")
    chat_template: str | None = field_(None, "Jinja chat template for chat datasets when the tokenizer has none "
                                             "(null: a Zephyr-style default)")
    seq_len: int = field_(2048, "packed sequence length in tokens (Appendix C: 2048)")
    data_cache_dir: str | None = field_(None, "datasets cache directory (null: HF_DATASETS_CACHE)")
    num_proc: int | None = field_(None, "processes for tokenization (null: in-process)")
    # --- optimisation (Appendix C) ------------------------------------------------------------------
    global_batch_size: int = field_(32, "sequences per optimizer step over all processes (Appendix C: 32)")
    micro_batch_size: int = field_(1, "sequences per forward pass per process; accumulation fills the rest")
    lr: float = field_(1e-3, "peak learning rate (Appendix C: 1e-3)")
    betas: list[float] = field_([0.9, 0.98], "AdamW betas (Appendix C: 0.9, 0.98)")
    eps: float = field_(1e-8, "AdamW epsilon")
    weight_decay: float = field_(0.0, "AdamW weight decay (not given in the paper)")
    warmup_ratio: float = field_(0.01, "fraction of steps of linear warm-up before cosine decay (Appendix C: 1%)")
    min_lr_ratio: float = field_(0.0, "cosine decays to lr·min_lr_ratio")
    max_grad_norm: float | None = field_(1.0, "gradient clipping norm (null: none; not given in the paper)")
    num_epochs: int = field_(1, "passes over the data (Appendix C: 1)")
    max_steps: int | None = field_(None, "if set, the run has exactly this many optimizer steps (schedule "
                                         "included; data repeats if it needs more than num_epochs)")
    mixed_precision: Literal["no", "bf16", "fp16"] = field_("bf16", "autocast precision (Appendix C: bf16)")
    cpu: bool = field_(False, "force the CPU (also for multi-process runs, with the gloo backend)")
    seed: int = field_(0, "seeds the data order, pseudo-label sampling and torch")
    # --- run ----------------------------------------------------------------------------------------
    output_dir: str = field_("runs/distill", "checkpoints, metrics.jsonl, config.yaml and final/ go here")
    save_every: int = field_(500, "checkpoint every N optimizer steps (and at the end)")
    keep_last: int = field_(2, "checkpoints to keep")
    log_every: int = field_(10, "write metrics every N steps")
    tensorboard: bool = field_(True, "also log to OUTPUT_DIR/tensorboard when tensorboard is installed")
    resume: bool | Literal["auto"] = field_(False, "true: continue from the latest checkpoint (error if none); "
                                                   "auto: continue if there is one, else start")

    def __post_init__(self):
        positive = ("D", "seq_len", "global_batch_size", "micro_batch_size", "num_epochs", "save_every",
                    "keep_last", "log_every", "prompt_length")
        for key in positive:
            if getattr(self, key) < 1:
                raise ValueError(f"{key}={getattr(self, key)} must be >= 1")
        if self.seq_len < 2:
            raise ValueError(f"seq_len={self.seq_len}: a sequence needs at least 2 tokens to predict one")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps={self.max_steps} must be >= 1 (or null for num_epochs over the data)")
        if not (self.lr > 0 and self.kl_temperature > 0 and self.hidden_weight >= 0):
            raise ValueError(f"need lr > 0, kl_temperature > 0, hidden_weight >= 0; got lr={self.lr}, "
                             f"kl_temperature={self.kl_temperature}, hidden_weight={self.hidden_weight}")
        if not 0 <= self.warmup_ratio < 1 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"warmup_ratio={self.warmup_ratio} must be in [0, 1) and "
                             f"min_lr_ratio={self.min_lr_ratio} in [0, 1]")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas={self.betas} must be two numbers in [0, 1), e.g. [0.9, 0.98]")
        if self.pseudo_labels and self.prompt_length >= self.seq_len:
            raise ValueError(f"prompt_length={self.prompt_length} must be < seq_len={self.seq_len} so the "
                             "teacher has tokens to generate")
        if not self.datasets:
            raise ValueError("datasets is empty: give hub dataset names or local .txt/.jsonl files, "
                             "e.g. datasets=[pipelines/configs/data/tiny_corpus.txt]")
