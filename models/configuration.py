"""`SpikingMambaConfig`: the Mamba2 shape (mamba_ssm names) plus the neuron placement of §4.1.

Field names follow mamba_ssm's `MambaConfig` / `Mamba2` arguments (``d_model``, ``n_layer``,
``d_state``, ``headdim``, ``ngroups`` ...), so a `state-spaces/mamba2-*` config maps onto it one to
one; ``hidden_size`` / ``num_hidden_layers`` are aliases for the transformers ecosystem.
``vocab_size`` is the size of the embedding matrix, i.e. already padded to
``pad_vocab_size_multiple`` (mamba_ssm pads; the logits have this many columns).

Neurons (§3.2, §4.1): ``neuron_in`` sits before every block's ``in_proj`` and ``neuron_out`` before
every ``out_proj``; each is ``"none"`` (plain Mamba2: the teacher), ``"lif"``, ``"ilif"`` or
``"tilif"``. A neuron normalises its input by its threshold (``v_threshold_in`` / ``v_threshold_out``,
V_th = 1 by default: the paper gives no value) and emits an integer count in units of V_th; the
projection after it restores the scale with one multiply per *output* element (``y = V_th · W q``), so the spike-driven path stays
accumulate-only over the inputs. ``D`` is the largest integer a neuron emits (LIF: 1), ``T`` the number
of logical neuron steps per token (the paper's "T × D" step notation; T = 1 throughout the paper).

``sgc_layers`` lists the blocks that carry the training-only SGC branch (§4.2, Eq 10–11).
``neuron_backend`` ("auto" | "torch" | "cupy", default "auto") is every neuron's backend: "auto" runs the
CuPy kernels on CUDA tensors where they compile and the torch path elsewhere (``neurons.node``).
``projection_path`` ("auto" | "dense" | "event", default "auto") is how a spiking projection computes
W·q in inference (`models.projection.SpikingProjection`): "event" reads only the weight columns of the
active inputs (``neurons.event``), "dense" is F.linear, "auto" takes the event path where it is measured
faster (eval mode, no autograd, CPU, few rows). Training always runs dense.
"""

from __future__ import annotations

import math
import os
import shutil

from transformers import AutoConfig, PretrainedConfig

from models.shape import SIDES, Mamba2Shape
from neurons.kinds import CHOICES, NONE

from neurons.params import BACKENDS

PROJECTION_PATHS = ("auto", "dense", "event")
REMOTE_CODE_FILE = "modeling_spiking_mamba.py"
REMOTE_CODE_SOURCE = os.path.join(os.path.dirname(__file__), "remote_code.py")  # not imported: it imports us
AUTO_MAP = {"AutoConfig": "modeling_spiking_mamba.SpikingMambaConfig",
            "AutoModelForCausalLM": "modeling_spiking_mamba.SpikingMambaForCausalLM"}
"""config.json's ``auto_map``: the classes transformers' Auto classes take from `REMOTE_CODE_FILE`."""


class SpikingMambaConfig(PretrainedConfig):
    model_type = "spiking_mamba"
    attribute_map = {"hidden_size": "d_model", "num_hidden_layers": "n_layer"}

    # Mamba2 shape; defaults are mamba_ssm's (`MambaConfig`, `Mamba2.__init__`).
    vocab_size: int = 50288
    d_model: int = 768
    n_layer: int = 24
    d_state: int = 128
    d_conv: int = 4
    expand: int = 2
    headdim: int = 64
    ngroups: int = 1
    chunk_size: int = 256
    norm_epsilon: float = 1e-5
    rmsnorm: bool = True
    norm_before_gate: bool = False
    D_has_hdim: bool = False
    bias: bool = False
    conv_bias: bool = True
    dt_limit: list | tuple = (0.0, math.inf)
    residual_in_fp32: bool = True
    pad_vocab_size_multiple: int = 16
    tie_word_embeddings: bool = True
    # Spiking neurons (§4.1) and the SGC branch (§4.2).
    neuron_in: str = "none"
    neuron_out: str = "none"
    D: int = 4
    T: int = 1
    beta: float = 0.25
    alpha: float = 1.0
    v_threshold_in: float = 1.0
    v_threshold_out: float = 1.0
    sgc_layers: list | tuple = ()
    neuron_backend: str = "auto"
    projection_path: str = "auto"
    # Token ids (mamba2 checkpoints use the GPT-NeoX tokenizer: <|endoftext|> = 0).
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | list | None = None
    use_cache: bool = True

    def __post_init__(self, **kwargs):
        if not (isinstance(self.dt_limit, (list, tuple)) and len(self.dt_limit) == 2
                and all(isinstance(v, (int, float)) for v in self.dt_limit)):
            raise ValueError(f"dt_limit must be [low, high] (numbers), got {self.dt_limit!r}")
        if not (isinstance(self.sgc_layers, (list, tuple)) and all(isinstance(i, int) for i in self.sgc_layers)):
            raise ValueError(f"sgc_layers must be a list of block indices, got {self.sgc_layers!r}")
        self.dt_limit = [float(v) for v in self.dt_limit]
        self.sgc_layers = sorted(set(self.sgc_layers))
        super().__post_init__(**kwargs)
        self.validate()

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs):
        """PretrainedConfig.save_pretrained, plus the remote code stock transformers loads the checkpoint with
        (`models/remote_code.py` as ``modeling_spiking_mamba.py``, named in ``auto_map``; trust_remote_code)."""
        os.makedirs(save_directory, exist_ok=True)
        shutil.copyfile(REMOTE_CODE_SOURCE, os.path.join(save_directory, REMOTE_CODE_FILE))
        self.auto_map = dict(AUTO_MAP)
        super().save_pretrained(save_directory, push_to_hub, **kwargs)

    @classmethod
    def register_for_auto_class(cls, auto_class="AutoConfig"):
        """Nothing to record: `save_pretrained` always ships `models/remote_code.py`. (transformers calls
        this after a trust_remote_code load; its default would make later saves copy this module instead,
        whose classes would then exist twice.)"""

    @property
    def shape(self) -> Mamba2Shape:
        """The derived sizes (Appendix A: d_inner, nheads, conv_dim, d_in_proj; `models.shape`)."""
        return Mamba2Shape(d_model=self.d_model, n_layer=self.n_layer, d_state=self.d_state, headdim=self.headdim,
                           expand=self.expand, ngroups=self.ngroups, d_conv=self.d_conv)

    @property
    def is_spiking(self) -> bool:
        return self.neuron_in != NONE or self.neuron_out != NONE

    @property
    def sgc_sides(self) -> list[str]:
        """The sides ("in" / "out") whose neuron has SGC's mimic (TI-LIF, `models.sgc.has_mimic`): where an
        SGC layer gets a branch."""
        from models.sgc import has_mimic

        return [side.name for side in SIDES.values() if has_mimic(getattr(self, side.neuron_field), self.D)]

    def validate(self) -> None:
        """Raise ValueError naming the first inconsistent field and how to fix it."""
        for name in ("vocab_size", "chunk_size", "T"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"SpikingMambaConfig.{name} must be a positive integer, got {value!r}")
        try:
            self.shape  # noqa: B018  (Mamba2Shape checks the sizes and that they divide)
        except ValueError as err:
            raise ValueError(f"SpikingMambaConfig: {err}") from None
        for name in ("neuron_in", "neuron_out"):
            kind = getattr(self, name)
            if kind not in CHOICES:
                raise ValueError(f"unknown neuron kind {name}={kind!r}; choose one of {CHOICES}")
        if self.neuron_backend not in BACKENDS:
            raise ValueError(f"unknown neuron_backend={self.neuron_backend!r}; choose one of {BACKENDS}")
        if self.projection_path not in PROJECTION_PATHS:
            raise ValueError(f"unknown projection_path={self.projection_path!r}; choose one of {PROJECTION_PATHS}")
        if not isinstance(self.D, int) or isinstance(self.D, bool) or self.D < 1:
            raise ValueError(f"D (largest spike count per neuron) must be an integer >= 1, got {self.D!r}")
        for name in ("v_threshold_in", "v_threshold_out"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        bad = [i for i in self.sgc_layers if not 0 <= i < self.n_layer]
        if bad:
            raise ValueError(
                f"sgc_layers {bad} out of range: this model has n_layer = {self.n_layer} blocks "
                f"(valid indices 0..{self.n_layer - 1})"
            )
        if self.sgc_layers and not self.is_spiking:
            raise ValueError(
                "sgc_layers needs a spiking projection to compensate, but neuron_in and neuron_out are "
                "both 'none'; set a neuron kind or sgc_layers=[]"
            )
        if self.sgc_layers and not self.sgc_sides:
            raise ValueError(
                f"sgc_layers={self.sgc_layers}: the paper defines SGC's mimic f_m = D·tanh (Eq 11) for TI-LIF "
                f"(range −D..D) only, and neither neuron_in={self.neuron_in!r} nor neuron_out={self.neuron_out!r} "
                "is TI-LIF; use neuron 'tilif' or sgc_layers=[]"
            )



def default_sgc_layers(n_layer: int, neuron_in: str, neuron_out: str, D: int) -> list[int]:
    """The blocks a student trains with an SGC branch when none are asked for (§4.3: the first, middle
    and last block) — for a student with a TI-LIF neuron, the only kind the paper uses SGC with (Tables 2,
    5); none otherwise (LIF / I-LIF students, the Mamba2 teacher). The one owner of this rule:
    `from_pretrained` (a student built from a teacher), the distillation and the RL pipelines call it."""
    from models.sgc import has_mimic

    if not (has_mimic(neuron_in, D) or has_mimic(neuron_out, D)):
        return []
    return sorted({0, n_layer // 2, n_layer - 1})

AutoConfig.register(SpikingMambaConfig.model_type, SpikingMambaConfig, exist_ok=True)
