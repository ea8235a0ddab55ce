"""The shapes every benchmark runs at: the full preset (mamba2-130m) and the --quick preset.

`ModelShape` is a Mamba2 backbone; `BenchShapes` adds the workload sizes of each figure.
benchmarks/README.md documents the same numbers in a table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class ModelShape:
    """A Mamba2 LM shape. `vocab_size` is already padded (mamba_ssm pads 50280 -> 50288)."""

    d_model: int
    n_layer: int
    d_state: int
    headdim: int
    expand: int
    n_groups: int
    vocab_size: int

    @property
    def n_heads(self) -> int:
        return self.expand * self.d_model // self.headdim

    def describe(self) -> str:
        return (
            f"d_model {self.d_model}, {self.n_layer} layers, d_state {self.d_state}, "
            f"headdim {self.headdim}, expand {self.expand}, vocab {self.vocab_size}"
        )


@dataclass(frozen=True)
class BenchShapes:
    """Workload sizes. Times are ratios of two sides measured `*_reps` times, interleaved."""

    model: ModelShape
    train_batch: int  # figure 1: batch x train_len tokens, forward + backward
    train_len: int
    train_reps: int
    prompt_len: int  # figures 2 and 4: greedy decode of new_tokens after a prompt, batch 1
    new_tokens: int
    decode_reps: int
    memory_short: int  # figure 3: new tokens in the short and the long run
    memory_long: int
    spike_len: int  # figure 5: one forward of batch 1 x spike_len tokens
    spike_reps: int
    D: int = 4  # TI-LIF integer levels of the student
    sgc_layers: int = 3  # SGC branches of the student in figure 1 (first, middle, last)
    seed: int = 0


MAMBA2_130M = ModelShape(
    d_model=768, n_layer=24, d_state=128, headdim=64, expand=2, n_groups=1, vocab_size=50288
)

FULL = BenchShapes(
    model=MAMBA2_130M,
    train_batch=2,
    train_len=512,
    train_reps=3,
    prompt_len=64,
    new_tokens=256,
    decode_reps=3,
    memory_short=256,
    memory_long=4096,
    spike_len=64,
    spike_reps=3,
)

QUICK = BenchShapes(
    model=ModelShape(
        d_model=256, n_layer=4, d_state=64, headdim=32, expand=2, n_groups=1, vocab_size=8192
    ),
    train_batch=2,
    train_len=64,
    train_reps=3,
    prompt_len=16,
    new_tokens=32,
    decode_reps=3,
    memory_short=32,
    memory_long=512,
    spike_len=32,
    spike_reps=3,
)

PRESETS = {"full": FULL, "quick": QUICK}

# decode_event_vs_teacher_1b3 (issue 18): the mamba2-1.3b shape (5.4 GB of fp32 weights per model; the
# teacher and the student are both loaded), a shorter decode. `--layers-1b3 N` keeps the first N layers.
MAMBA2_1B3 = ModelShape(
    d_model=2048, n_layer=48, d_state=128, headdim=64, expand=2, n_groups=1, vocab_size=50288
)
LARGE_PRESETS = {
    "full": replace(FULL, model=MAMBA2_1B3, prompt_len=16, new_tokens=32),
    "quick": replace(QUICK, model=replace(QUICK.model, d_model=512, n_layer=2), new_tokens=16),
}

