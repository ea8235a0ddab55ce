"""The demo's scaled-down recipe: every knob of every stage, and the ``default`` / ``quick`` presets.

The paper's recipe (Appendix C) at CPU scale. Kept from the paper: the teacher–student set-up
(students start from the teacher's weights, embedding frozen), L = L_KL + L_hidden (Eq 12–13) with
SGC on the first, middle and last block, AdamW β = (0.9, 0.98), 1 % warm-up then cosine, the same
budget for every student, DPO/KTO on the distilled model with the reference = the policy at the
start (Eq 14–15). Scaled: a 4-layer d_model-128 Mamba2 trained here instead of the hub's 130m/1.3b,
sequences of 128 tokens instead of 2048, a few hundred steps instead of 7 B tokens, and a
learning rate for RL sized to a few dozen steps (the paper's 5e-6 is for ~1 epoch of UltraFeedback
on 1.3 B parameters). What was tried while tuning is written in ``pipelines/demo/TUNING.md``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Literal

from pipelines.demo.prepare import DataConfig
from pipelines.demo.pretrain import TeacherConfig


@dataclasses.dataclass(frozen=True)
class Student:
    """One spiking student of Table 2 / Table 5: neuron kind, D ("1 × D" / "1 × ±D") and SGC."""

    name: str
    neuron: Literal["lif", "ilif", "tilif"]
    D: int
    sgc: bool

    @property
    def step(self) -> str:
        """The paper's "T × D" step notation (T = 1)."""
        return f"1×±{self.D}" if self.neuron == "tilif" else f"1×{self.D}"


STUDENTS = (Student("lif", "lif", 1, False), Student("ilif", "ilif", 4, False),
            Student("tilif", "tilif", 4, False), Student("tilif_sgc", "tilif", 4, True))


@dataclasses.dataclass(frozen=True)
class DistillStage:
    max_steps: int = 96
    global_batch_size: int = 16
    micro_batch_size: int = 16
    lr: float = 1e-3             # Appendix C: 1e-3
    warmup_ratio: float = 0.01   # Appendix C: 1 %
    hidden_weight: float = 1.0   # λ of Eq 12 (paper: 1)
    calibrate_v_threshold: bool = False   # V_th from the teacher's activations (calibrate.py); paper: 1
    calibration_sequences: int = 16
    log_every: int = 5


@dataclasses.dataclass(frozen=True)
class AlignStage:
    loss: Literal["dpo", "kto"] = "dpo"
    student: str = "tilif_sgc"   # the paper aligns its full model, TI-LIF + SGC (Table 2)
    max_steps: int = 32
    global_batch_size: int = 16
    micro_batch_size: int = 8
    lr: float = 1e-4
    beta: float = 0.1
    max_length: int = 192        # prompt (3 verses) + completion (1 verse) tokens fit in this
    log_every: int = 5


@dataclasses.dataclass(frozen=True)
class EvalStage:
    batch_size: int = 16
    ppl_stride: int = 64          # sliding windows of teacher.seq_len tokens, every token >= 64 context
    ppl_documents: int | None = None   # held-out chapters scored (None: all 59)
    mc_limit: int | None = None   # questions of the verse-ending task (None: all of data.n_mc)
    analysis_sequences: int = 8   # held-out sequences for firing rates and histograms
    raster_tokens: int = 24


@dataclasses.dataclass(frozen=True)
class DemoRecipe:
    data: DataConfig = DataConfig()
    teacher: TeacherConfig = TeacherConfig()
    distill: DistillStage = DistillStage()
    align: AlignStage = AlignStage()
    evaluation: EvalStage = EvalStage()
    seed: int = 0

    def teacher_key(self, data_key: str) -> str:
        """Identity of the cached teacher: the data it was trained on and its whole recipe."""
        blob = json.dumps({"data": data_key, "teacher": dataclasses.asdict(self.teacher)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


PRESETS = {
    "default": DemoRecipe(),
    "quick": DemoRecipe(
        data=DataConfig(n_mc=100, n_preference=256),
        teacher=TeacherConfig(d_model=64, n_layer=2, d_state=16, headdim=16, seq_len=64, max_steps=60,
                              eval_every=30, eval_sequences=16, log_every=5),
        distill=DistillStage(max_steps=12, global_batch_size=8, micro_batch_size=8, log_every=2),
        align=AlignStage(max_steps=4, global_batch_size=8, micro_batch_size=4, max_length=160, log_every=1),
        evaluation=EvalStage(ppl_stride=64, ppl_documents=12, mc_limit=60, analysis_sequences=4, raster_tokens=16),
    ),
}
