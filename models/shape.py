"""`Mamba2Shape`: the sizes of a Mamba2 block (Appendix A), the released checkpoints' shapes, and the two
projections a block feeds through spiking neurons (`SIDES`, §4.1).

The one place where these are defined: `SpikingMambaConfig`, the model and the energy model (Tables
10–12) read them from here; the energy model imports this module without torch (standard library only).

Paper notation: D = d_model, N = d_state, P = headdim, H = nheads, "2D" = d_inner (expand = 2),
"4D + 2N + H" = d_in_proj (ngroups = 1).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping


@dataclass(frozen=True)
class Side:
    """One of the two projections with a neuron in front (§4.1): its module name in the block, the
    paper's symbol of its input and the equation defining it, its config fields and firing rate name."""

    name: str
    module: str
    symbol: str
    equation: str
    neuron_field: str
    threshold_field: str
    rate: str


SIDES = {
    "in": Side("in", "in_proj", "u", "Eq 16", "neuron_in", "v_threshold_in", "fr_in"),
    "out": Side("out", "out_proj", "y", "Eq 21", "neuron_out", "v_threshold_out", "fr_out"),
}


@dataclass(frozen=True)
class Mamba2Shape:
    """The dimensions of a Mamba2 stack (mamba_ssm ``Mamba2`` names; defaults are mamba_ssm's)."""

    d_model: int
    n_layer: int
    d_state: int = 128
    headdim: int = 64
    expand: int = 2
    ngroups: int = 1
    d_conv: int = 4

    def __post_init__(self):
        for name, value in asdict(self).items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.d_inner % self.headdim:
            raise ValueError(f"expand * d_model = {self.d_inner} is not divisible by headdim = {self.headdim}; "
                             "choose headdim dividing expand * d_model")
        if self.nheads % self.ngroups:
            raise ValueError(f"nheads = {self.nheads} is not divisible by ngroups = {self.ngroups}; "
                             "ngroups must divide expand * d_model / headdim")

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    @property
    def nheads(self) -> int:
        return self.d_inner // self.headdim

    @property
    def conv_dim(self) -> int:
        """Channels of the causal Conv1d: x, B, C."""
        return self.d_inner + 2 * self.ngroups * self.d_state

    @property
    def d_in_proj(self) -> int:
        """Eq 16: in_proj width 2·H·P + 2·G·N + H (z, x, B, C, Δ)."""
        return 2 * self.d_inner + 2 * self.ngroups * self.d_state + self.nheads

    @property
    def sides(self) -> dict[str, tuple[int, int]]:
        """Side name -> (in_features, out_features) of the two linears that spiking neurons feed (§4.1)."""
        return {"in": (self.d_model, self.d_in_proj), "out": (self.d_inner, self.d_model)}

    @property
    def projections(self) -> dict[str, tuple[int, int]]:
        """The same, keyed by module name ("in_proj", "out_proj")."""
        return {SIDES[side].module: features for side, features in self.sides.items()}

    @classmethod
    def from_config(cls, cfg: Mapping) -> "Mamba2Shape":
        """From a mamba_ssm ``config.json`` (d_model, n_layer, ssm_cfg), a transformers ``Mamba2Config``
        dict (hidden_size, num_hidden_layers, state_size, head_dim, n_groups, conv_kernel) or any mapping
        using this class's field names. Missing SSM fields take mamba_ssm's Mamba2 defaults."""
        cfg = dict(cfg)
        ssm = dict(cfg.get("ssm_cfg") or {})
        aliases = {
            "d_model": ("d_model", "hidden_size"),
            "n_layer": ("n_layer", "num_hidden_layers"),
            "d_state": ("d_state", "state_size"),
            "headdim": ("headdim", "head_dim"),
            "expand": ("expand",),
            "ngroups": ("ngroups", "n_groups"),
            "d_conv": ("d_conv", "conv_kernel"),
        }
        kwargs = {}
        for field, names in aliases.items():
            for name in names:
                for source in (ssm, cfg):
                    if name in source and field not in kwargs:
                        kwargs[field] = int(source[name])
        missing = [f for f in ("d_model", "n_layer") if f not in kwargs]
        if missing:
            raise ValueError(f"config has no {missing} (looked for {[aliases[f] for f in missing]})")
        shape = cls(**kwargs)
        nheads = cfg.get("num_heads", ssm.get("nheads"))
        if nheads is not None and int(nheads) != shape.nheads:
            raise ValueError(f"config num_heads={nheads} but expand·d_model/headdim = {shape.nheads}")
        return shape


# mamba_ssm's released Mamba2 checkpoints (state-spaces/mamba2-*): d_state 128, headdim 64, expand 2, ngroups 1.
PRESETS: dict[str, Mamba2Shape] = {
    "mamba2-130m": Mamba2Shape(d_model=768, n_layer=24),
    "mamba2-370m": Mamba2Shape(d_model=1024, n_layer=48),
    "mamba2-780m": Mamba2Shape(d_model=1536, n_layer=48),
    "mamba2-1.3b": Mamba2Shape(d_model=2048, n_layer=48),
    "mamba2-2.7b": Mamba2Shape(d_model=2560, n_layer=64),
}


def preset(name: str) -> Mamba2Shape:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown config {name!r}; choose one of {sorted(PRESETS)}") from None
