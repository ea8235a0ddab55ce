"""The demo's scaled-down recipe: a few overrides of the pipelines' own configs per stage, and the presets.

An experiment is a short list of overrides (nanoGPT's ``config/train_shakespeare_char.py``): every
key a stage does not name keeps the default of ``DistillConfig`` / ``RLConfig``, which are the paper's
where it gives one (Appendix C: lr 1e-3 for distillation, 1 % warm-up then cosine, AdamW β = (0.9,
0.98), λ = 1 in Eq 12, the embedding frozen). Kept from the paper: students start from the teacher's
weights, L = L_KL + L_hidden (Eq 12–13) with SGC on the first, middle and last block, the same budget
for every student, DPO/KTO on the distilled full model with the reference = the policy at the start
(Eq 14–15). Scaled: a 4-layer d_model-128 Mamba2 pretrained once by the demo (the distillation pipeline with
``objective: ce``; shipped in ``pipelines/demo/teacher/``) instead of the hub's 130m/1.3b, sequences of 128 tokens instead of 2048, a few
hundred steps instead of 7 B tokens, and an RL learning rate sized to a few dozen steps (the paper's
5e-6 is for ~1 epoch of UltraFeedback on 1.3 B parameters). What was tried while tuning is written in
``pipelines/demo/TUNING.md``; ``training.py`` turns a stage into its config.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json

from neurons.kinds import get_kind
from pipelines.demo.prepare import DataConfig
from pipelines.distill.config import DistillConfig
from pipelines.rl.config import RLConfig


@dataclasses.dataclass(frozen=True)
class Student:
    """One spiking student of Table 2 / Table 5: neuron kind, D ("1 × D" / "1 × ±D") and SGC."""

    name: str
    neuron: str
    D: int
    sgc: bool
    seed: int = 0                 # the distillation's data order (students start from the teacher's weights)

    @property
    def step(self) -> str:
        """The paper's "T × D" step notation (T = 1), from ``neurons.kinds``."""
        return get_kind(self.neuron).step(self.D)

    @property
    def overrides(self) -> dict:
        """Its keys of the distillation config; SGC layers null = the model's default (first, middle, last)."""
        return {"neuron": self.neuron, "D": self.D, "sgc_layers": None if self.sgc else [], "seed": self.seed}

    def with_seed(self, seed: int) -> Student:
        """The same student distilled with another data order, named ``<name>_seed<seed>``."""
        return dataclasses.replace(self, name=f"{self.name}_seed{seed}", seed=seed)


STUDENTS = (Student("lif", "lif", 1, False), Student("ilif", "ilif", 4, False),
            Student("tilif", "tilif", 4, False), Student("tilif_sgc", "tilif", 4, True))
FULL_MODEL = STUDENTS[-1]   # TI-LIF + SGC: the paper's full model, the one it aligns (Table 2)


def student_named(name: str) -> Student:
    found = [s for s in STUDENTS if s.name == name]
    if not found:
        raise ValueError(f"{name!r} is not a demo student; choose one of {[s.name for s in STUDENTS]}")
    return found[0]


@dataclasses.dataclass(frozen=True)
class EvalStage:
    batch_size: int = 16
    ppl_stride: int = 64          # sliding windows of seq_len tokens, every token >= 64 context
    ppl_documents: int | None = None   # held-out chapters scored (None: all 59)
    mc_limit: int | None = None   # questions of the verse-ending task (None: all of data.n_mc)
    analysis_sequences: int = 8   # held-out sequences for firing rates and histograms
    raster_tokens: int = 24


SCHEMAS = {"teacher": DistillConfig, "distill": DistillConfig, "align": RLConfig}


@dataclasses.dataclass(frozen=True)
class DemoRecipe:
    """``teacher``, ``distill``, ``align``: overrides of the stage's config (``SCHEMAS``); the rest is the
    demo's own: its data, the context length of every stage, the evaluation, which student is aligned,
    whether the dense teacher is aligned too (Table 2's "Mamba2 + DPO" baseline), and which students are
    distilled again with ``repeat_seed`` (another data order) to measure the spread between seeds."""

    teacher: dict
    distill: dict
    align: dict
    data: DataConfig = DataConfig()
    seq_len: int = 128            # tokens per sequence: teacher, students and the evaluation windows
    evaluation: EvalStage = EvalStage()
    align_student: str = FULL_MODEL.name
    align_teacher: bool = True
    repeats: tuple[str, ...] = ("tilif", "tilif_sgc")
    repeat_seed: int = 1

    @property
    def repeated(self) -> tuple[Student, ...]:
        """The students distilled a second time, with ``repeat_seed``: ``tilif_seed1``, ..."""
        return tuple(student_named(name).with_seed(self.repeat_seed) for name in self.repeats)

    @property
    def aligned(self) -> dict[str, str]:
        """``{aligned row: the row it is aligned from}``: ``<student>_dpo`` (and ``teacher_dpo``)."""
        loss = self.setting("align", "loss")
        bases = [self.align_student] + (["teacher"] if self.align_teacher else [])
        return {f"{base}_{loss}": base for base in bases}

    def setting(self, stage: str, key: str):
        """What ``stage`` runs with for ``key``: the recipe's override, else the pipeline's default."""
        if key in getattr(self, stage):
            return getattr(self, stage)[key]
        field = {f.name: f for f in dataclasses.fields(SCHEMAS[stage])}[key]
        return field.default if field.default_factory is dataclasses.MISSING else field.default_factory()

    def override(self, **changes) -> DemoRecipe:
        """This recipe with ``changes``: a stage's dict merged key by key into its own, the rest replaced."""
        return dataclasses.replace(self, **{k: getattr(self, k) | v if isinstance(v, dict) else v
                                            for k, v in changes.items()})

    def teacher_key(self, data_key: str, threads: int) -> str:
        """Identity of the cached teacher: its data, its stage, the context and the torch threads it ran
        with (CPU results are bitwise for a fixed thread count only, see ``training.pretrain_teacher``)."""
        blob = json.dumps({"data": data_key, "teacher": self.teacher, "seq_len": self.seq_len, "threads": threads},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


DEFAULT = DemoRecipe(
    # next-token CE from a random Mamba2 (neuron "none", embedding trained): the teacher to distil from
    teacher={"objective": "ce", "neuron": "none", "freeze_embedding": False,
             "tiny_teacher": {"d_model": 128, "n_layer": 4, "d_state": 32, "headdim": 32, "expand": 2,
                              "chunk_size": 64},
             "max_steps": 2560, "global_batch_size": 16, "micro_batch_size": 16, "lr": 3e-3, "weight_decay": 0.1,
             "warmup_ratio": 0.02, "min_lr_ratio": 0.1, "log_every": 10, "eval_every": 160, "eval_sequences": 32},
    distill={"max_steps": 96, "global_batch_size": 16, "micro_batch_size": 16, "log_every": 5},
    align={"loss": "dpo", "max_steps": 32, "global_batch_size": 16, "micro_batch_size": 8, "lr": 1e-4,
           "max_length": 192,    # prompt (3 verses) + completion (1 verse) tokens fit in this
           "log_every": 5},
)

PRESETS = {
    "default": DEFAULT,
    "quick": DEFAULT.override(
        data=DataConfig(n_mc=100, n_preference=256), seq_len=64,
        teacher={"tiny_teacher": {"d_model": 64, "n_layer": 2, "d_state": 16, "headdim": 16, "expand": 2,
                                  "chunk_size": 64},
                 "max_steps": 60, "eval_every": 30, "eval_sequences": 16, "log_every": 5},
        distill={"max_steps": 12, "global_batch_size": 8, "micro_batch_size": 8, "log_every": 2},
        align={"max_steps": 4, "global_batch_size": 8, "micro_batch_size": 4, "max_length": 160, "log_every": 1},
        evaluation=EvalStage(ppl_stride=64, ppl_documents=12, mc_limit=60, analysis_sequences=4, raster_tokens=16),
    ),
}
