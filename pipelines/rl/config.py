"""Every setting of ``python -m pipelines rl``, with its default and meaning (the shared
optimisation/run keys come from ``pipelines.config.TrainingConfig``).

Defaults follow Appendix C where the paper gives a value (AdamW β = (0.9, 0.98), lr 5e-6, 1 % linear
warm-up then cosine, global batch 32, sequence length 2048, bf16, frozen embedding) and TRL's
defaults elsewhere (β of Eq 14–15 = 0.1: the paper does not state it). ``rl_paper.yaml`` spells
them out; ``rl_tiny.yaml`` shrinks them for a CPU.

The loss is the paper's, TRL's plain DPO (Eq 14) or KTO (Eq 15): ``sgc`` is off by default. ``sgc=true``
adds λ·L_hidden (Eq 10) of SGC branches kept on the policy — an option of this project, not in the paper.

The reference θ_T of Eq 14–15 is the policy checkpoint itself (the distilled student at the start of RL,
frozen): DPO and KTO regularise towards the model alignment starts from, so at step 0 every log-ratio
is 0 (L_DPO = ln 2, L_KTO = ½). Eq 13 uses θ_T for the Mamba2 teacher too, but the teacher as reference
would reward the student for moving towards the teacher, not towards preferred answers. A dense
policy (``neuron=none``, Table 2's "Mamba2 + DPO / KTO" baselines) is its own reference likewise.
"""
from __future__ import annotations

import dataclasses
from typing import Literal

from pipelines.config import TrainingConfig, field_


@dataclasses.dataclass
class RLConfig(TrainingConfig):
    # --- policy and reference -----------------------------------------------------------------------
    loss: Literal["dpo", "kto"] = field_("dpo", "alignment objective: DPO (Eq 14) or KTO (Eq 15), via TRL")
    policy: str | None = field_(None, "the model to align, and its frozen reference (Eq 14-15's θ_T): a "
                                      "distilled SpikingMamba (a distillation run's final/), or a dense Mamba2 "
                                      "for Table 2's baselines (dir or hub name); null builds a tiny random "
                                      "TI-LIF student (tiny_policy) in OUTPUT_DIR, for tests", path=True)
    tiny_policy: dict = field_({}, "shape of the tiny policy built when policy is null (keyword arguments "
                                   "of models.tiny.save_tiny_mamba2)")
    tokenizer: str | None = field_(None, "tokenizer; null = the one saved with the policy", path=True)
    sgc: bool = field_(False, "false (the paper's Eq 14-15): plain DPO/KTO. true: keep a training-only SGC "
                              "branch on the policy's TI-LIF projections and add λ·L_hidden (not in the paper)")
    sgc_layers: list[int] | None = field_(None, "blocks with an SGC branch (Eq 10–11); null = first, middle, "
                                                "last (§4.3), or the layers found in sgc_init")
    sgc_init: str | None = field_(None, "a distillation checkpoint dir (checkpoints/step-N of the run that "
                                        "produced the policy) to take the trained W' from; null re-initialises "
                                        "W' from W (§4.2), since exported checkpoints hold no SGC weights", path=True)
    hidden_weight: float = field_(1.0, "with sgc=true: λ in L = L_DPO/KTO + λ·L_hidden (Eq 10; as Eq 12's "
                                       "weight 1); unused with sgc=false")
    # --- objective (TRL) ----------------------------------------------------------------------------
    beta: float = field_(0.1, "β of Eq 14 / Eq 15: deviation from the reference policy (not in the paper; "
                              "TRL's and the DPO/KTO papers' default)")
    desirable_weight: float = field_(1.0, "KTO: weight of desirable (label true) examples")
    undesirable_weight: float = field_(1.0, "KTO: weight of undesirable (label false) examples")
    # --- data ---------------------------------------------------------------------------------------
    data: str | dict = field_("HuggingFaceH4/ultrafeedback_binarized", "preference data: hub name or local "
                              ".jsonl/.json/.parquet; or a mapping {path, name, split}. DPO needs "
                              "prompt/chosen/rejected, KTO prompt/completion/label (or paired data, unpaired)",
                              path=True)
    train_split: str = field_("train_prefs", "split of a hub dataset to train on (UltraFeedback: train_prefs)")
    eval_data: str | dict | None = field_(None, "held-out preference data (same forms as data); null = none", path=True)
    eval_split: str = field_("test_prefs", "split of a hub eval_data (UltraFeedback: test_prefs)")
    max_length: int = field_(2048, "prompt + completion tokens kept per example (Appendix C: 2048); longer "
                                   "examples are cut at the end, ones whose prompt alone fills it dropped")
    # --- training (beside TrainingConfig's keys) -------------------------------------------------------
    micro_batch_size: int = field_(4, "examples per forward pass per process; accumulation fills the rest "
                                      "(KTO needs >= 2: its KL baseline mixes completions within a micro-batch)")
    activation_checkpointing: bool = field_(False, "recompute activations in the backward pass to save memory")

    # --- defaults that differ from TrainingConfig's ---------------------------------------------------
    lr: float = field_(5e-6, "peak learning rate (Appendix C: 5e-6 for RL)")
    output_dir: str = field_("runs/rl", "checkpoints, metrics.jsonl, config.yaml and final/ go here")

    def __post_init__(self):
        super().__post_init__()
        if self.max_length < 1:
            raise ValueError(f"max_length={self.max_length} must be >= 1")
        if not (self.beta > 0 and self.hidden_weight >= 0):
            raise ValueError(f"need beta > 0 and hidden_weight >= 0; got beta={self.beta}, "
                             f"hidden_weight={self.hidden_weight}")
        if not (self.desirable_weight > 0 and self.undesirable_weight > 0):
            raise ValueError(f"desirable_weight={self.desirable_weight} and undesirable_weight="
                             f"{self.undesirable_weight} must be > 0")
        if self.global_batch_size % self.micro_batch_size:
            raise ValueError(f"global_batch_size={self.global_batch_size} is not a multiple of micro_batch_size="
                             f"{self.micro_batch_size}; choose global = micro x processes x accumulation")
        if self.loss == "kto" and self.micro_batch_size < 2:
            raise ValueError("loss=kto needs micro_batch_size >= 2: KTO estimates its KL baseline z_ref (Eq 15) "
                             "from mismatched completions within a micro-batch")
        if not self.sgc and (self.sgc_layers or self.sgc_init):
            raise ValueError("sgc=false but sgc_layers/sgc_init are set; drop them or set sgc=true")
