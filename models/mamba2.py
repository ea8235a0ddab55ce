"""The Mamba2 block (Appendix A, Eq 16–21) with SpikingMamba's neurons before in_proj and out_proj (§4.1).

One block, read top to bottom in `Mamba2Mixer.forward`:

    u ─ in_proj: neuron + linear (Eq 16) ─ split z | xBC | Δ (Eq 17)
        xBC ─ causal depthwise conv + SiLU ─ split x | B | C
        x, Δ, B, C ─ SSD scan (Eq 18–19, + D·x skip) ─ y
        y, z ─ gated RMSNorm (Eq 20) ─ out_proj: neuron + linear (Eq 21)

The two projections are `models.projection.SpikingProjection`s (§4.1: the neuron, the linear, the SGC
branch); with neuron "none" they are plain linears and the block is exactly Mamba2.

Plain PyTorch runs everywhere: `ssd_chunked` is the chunked SSD algorithm for whole sequences (as in
mamba_ssm's `modules/ssd_minimal.py`) and `ssd_step` the recurrence for one decoded token. On CUDA
tensors the block calls mamba_ssm / causal_conv1d kernels where installed (see `models/kernels.py`;
those CUDA paths were NOT run here — no GPU — only their plumbing, with fake kernels on CPU).

Shapes: B batch, L tokens, H heads, P head dim, G groups, N state size, K conv width.
Parameter names are mamba_ssm's: in_proj, conv1d, dt_bias, A_log, D, norm, out_proj.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models import kernels
from models.configuration import SpikingMambaConfig
from models.projection import SpikingProjection


# ---------------------------------------------------------------- SSD scan (Eq 18–19) ----------

def segsum(a: torch.Tensor) -> torch.Tensor:
    """[..., T] -> [..., T, T] with out[..., i, j] = Σ_{j<k≤i} a_k for j ≤ i, -inf above the diagonal.

    exp(segsum(Δ·A)) is the decay α_{j+1}·…·α_i from step j to step i (Eq 18), computed stably by
    masked cumulative sums rather than differences of cumulative sums."""
    t = a.size(-1)
    a = a[..., None].expand(*a.shape, t)
    a = a.masked_fill(~torch.tril(torch.ones(t, t, dtype=torch.bool, device=a.device), -1), 0)
    out = torch.cumsum(a, dim=-2)
    return out.masked_fill(~torch.tril(torch.ones(t, t, dtype=torch.bool, device=a.device)), -torch.inf)


def _heads(bc: torch.Tensor, nheads: int) -> torch.Tensor:
    """B or C [..., G, N] -> [..., H, N]: each group serves H/G consecutive heads."""
    per_group = nheads // bc.shape[-2]
    return bc.unsqueeze(-2).expand(*bc.shape[:-1], per_group, bc.shape[-1]).flatten(-3, -2)  # a view if G = 1


def ssd_chunked(x, dt, A, B, C, chunk_size: int, initial_state=None):
    """Eq 18–19 (without the D·x skip) over a whole sequence with the chunked SSD algorithm.

    x [B, L, H, P], dt [B, L, H] (Δ after softplus), A [H] (negative), B, C [B, L, G, N],
    initial_state [B, H, P, N] or None.  Returns y [B, L, H, P] and the final state [B, H, P, N],
    all float32. Within a chunk the output is the masked "attention" form C·(L∘Bᵀ)·x; chunks are
    linked by passing the state, so the result equals `ssd_step` applied token by token.
    """
    b, l, h, p = x.shape
    x, dt, B, C = x.float(), dt.float(), _heads(B.float(), h), _heads(C.float(), h)
    xdt, adt = x * dt[..., None], A.float() * dt                     # Δ·x and log α = Δ·A
    cs = min(chunk_size, l)
    pad = (-l) % cs                                                  # zero steps: α = 1, no input
    xdt, adt, B, C = (F.pad(t, (0, 0) * (t.dim() - 2) + (0, pad)) for t in (xdt, adt, B, C))
    c = (l + pad) // cs
    xdt, B, C = (t.reshape(b, c, cs, h, -1) for t in (xdt, B, C))    # [b, c, l, h, p|n]
    adt = adt.reshape(b, c, cs, h).permute(0, 3, 1, 2)              # [b, h, c, l]
    a_cum = torch.cumsum(adt, dim=-1)

    # 1. within each chunk: y_i = Σ_{j≤i} (C_i·B_j) α_{j+1..i} Δ_j x_j
    scores = torch.einsum("bclhn,bcshn->bhcls", C, B) * torch.exp(segsum(adt))
    y = torch.einsum("bhcls,bcshp->bclhp", scores, xdt)
    # 2. state each chunk contributes at its end
    decay_to_end = torch.exp(a_cum[..., -1:] - a_cum)                # [b, h, c, l]
    states = torch.einsum("bclhn,bhcl,bclhp->bchpn", B, decay_to_end, xdt)
    # 3. pass states across chunk boundaries
    if initial_state is None:
        initial_state = torch.zeros_like(states[:, 0])
    states = torch.cat([initial_state[:, None].float(), states], dim=1)
    chunk_decay = torch.exp(segsum(F.pad(a_cum[..., -1], (1, 0))))  # [b, h, c+1, c+1]
    states = torch.einsum("bhzc,bchpn->bzhpn", chunk_decay, states)
    states, final_state = states[:, :-1], states[:, -1]
    # 4. what the state entering each chunk adds to its outputs
    y = y + torch.einsum("bclhn,bchpn,bhcl->bclhp", C, states, torch.exp(a_cum))
    return y.reshape(b, c * cs, h, p)[:, :l], final_state


def ssd_step(state, x, dt, A, B, C):
    """Eq 18–19 (without the D·x skip) for one token; updates ``state`` in place.

    state [B, H, P, N] float32, x [B, H, P], dt [B, H] (after softplus), A [H], B, C [B, G, N].
    h_t = α_t h_{t-1} + (Δ_t B_t) ⊗ x_t ;  y_t = C_t h_t.  Returns y [B, H, P] float32.
    Three passes over the state (decay, outer-product update, read-out by one batched mat-vec per group).
    """
    b, h, p = x.shape
    g, n = B.shape[-2:]
    dt = dt.float()
    state.mul_(torch.exp(dt * A)[..., None, None]).addcmul_(
        (x.float() * dt[..., None])[..., None], _heads(B.float(), h)[:, :, None, :])
    return torch.matmul(state.reshape(b, g, (h // g) * p, n), C.float()[..., None]).view(b, h, p)


# ---------------------------------------------------------------- conv and norms ----------------

def causal_conv(x, weight, bias, conv_state=None):
    """Causal depthwise conv + SiLU. x [B, C, L], weight [C, 1, K] -> [B, C, L].

    With ``conv_state`` [B, C, K] (the last K inputs seen so far) the sequence continues from it and
    the state is updated in place; without it the sequence starts from zeros."""
    k, l = weight.shape[-1], x.shape[-1]
    if conv_state is None:
        y = F.conv1d(x, weight, bias, padding=k - 1, groups=x.shape[1])[..., :l]
    else:
        x = torch.cat([conv_state.to(x.dtype), x], dim=-1)
        conv_state.copy_(x[..., -k:])
        y = F.conv1d(x, weight, bias, groups=x.shape[1])[..., -l:]
    return F.silu(y)


def causal_conv_step(x, weight, bias, conv_state):
    """One token of `causal_conv`: x [B, C], conv_state [B, C, K] updated in place -> [B, C]."""
    window = torch.cat([conv_state[..., 1:], x[..., None].to(conv_state.dtype)], dim=-1)
    conv_state.copy_(window)
    y = torch.linalg.vecdot(window, weight[:, 0])
    return F.silu(y if bias is None else y.add_(bias))


class RMSNorm(nn.Module):
    """RMSNorm over the last dim, computed in float32, output in the weight's dtype."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return F.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), self.eps).to(self.weight.dtype)


class GatedRMSNorm(nn.Module):
    """Eq 20: Norm(y ⊙ SiLU(z)), RMS taken per group of ``group_size`` channels (mamba_ssm
    `RMSNormGated`, norm_before_gate=False; with norm_before_gate=True: Norm(y) ⊙ SiLU(z))."""

    def __init__(self, dim: int, group_size: int, eps: float, norm_before_gate: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.group_size, self.eps, self.norm_before_gate = group_size, eps, norm_before_gate

    def forward(self, y, z):
        """y, z [B, L, d_inner] -> [B, L, d_inner] in y's dtype."""
        k = kernels.cuda_kernels(y)
        if k is not None and k.gated_rmsnorm is not None:
            return k.gated_rmsnorm(y, self.weight, None, z=z, eps=self.eps, group_size=self.group_size,
                                   norm_before_gate=self.norm_before_gate)
        dtype, y, gate = y.dtype, y.float(), F.silu(z.float())
        if not self.norm_before_gate:
            y = y * gate
        if self.group_size == y.shape[-1]:  # one group (ngroups = 1): the weight goes into rms_norm
            y = F.rms_norm(y, (self.group_size,), self.weight.float(), self.eps)
        else:
            groups = y.unflatten(-1, (-1, self.group_size))
            y = F.rms_norm(groups, (self.group_size,), eps=self.eps).flatten(-2) * self.weight.float()
        if self.norm_before_gate:
            y = y * gate
        return y.to(dtype)


# ---------------------------------------------------------------- the block --------------------

class Mamba2Mixer(nn.Module):
    """One Mamba2 mixer (Eq 16–21) whose in_proj and out_proj have optional spiking neurons (§4.1).

    Children: in_proj (neuron? · linear · sgc?) · conv1d · dt_bias · A_log · D · norm · out_proj (same).
    """

    def __init__(self, config: SpikingMambaConfig, layer_idx: int):
        super().__init__()
        c, s = config, config.shape
        self.config, self.layer_idx = config, layer_idx
        self.d_inner, self.nheads, self.headdim = s.d_inner, s.nheads, c.headdim
        self.ngroups, self.d_state, self.conv_dim = c.ngroups, c.d_state, s.conv_dim
        self.chunk_size, self.dt_limit = c.chunk_size, tuple(c.dt_limit)

        self.in_proj = SpikingProjection(c, "in", layer_idx, *s.sides["in"])
        self.conv1d = nn.Conv1d(s.conv_dim, s.conv_dim, c.d_conv, groups=s.conv_dim,
                                padding=c.d_conv - 1, bias=c.conv_bias)
        self.dt_bias = nn.Parameter(torch.zeros(s.nheads))
        self.A_log = nn.Parameter(torch.zeros(s.nheads))
        self.D = nn.Parameter(torch.ones(s.d_inner if c.D_has_hdim else s.nheads))
        self.norm = (GatedRMSNorm(s.d_inner, s.d_inner // c.ngroups, c.norm_epsilon, c.norm_before_gate)
                     if c.rmsnorm else None)
        self.out_proj = SpikingProjection(c, "out", layer_idx, *s.sides["out"])

        self.register_state_dict_post_hook(contiguous_state)

    def train(self, mode: bool = True):
        """nn.Module.train, plus the projections' weight layout for that mode (`set_decode_layout`):
        column-major in eval mode on CPU, row-major (contiguous) otherwise."""
        super().train(mode)
        for proj in (self.in_proj, self.out_proj):
            set_decode_layout(proj, not mode)
        return self

    def forward(self, u, conv_state=None, ssm_state=None, attention_mask=None, hidden_loss_mask=None):
        """Whole sequence: u [B, L, d_model] -> (out [B, L, d_model], L_hidden scalar or None).

        conv_state [B, conv_dim, K] / ssm_state [B, H, P, N]: this layer's recurrent cache; when
        given, the sequence continues from it and it is updated in place (prefill). One decoded
        token takes `forward_step` instead. attention_mask [B, L] (1 = token, 0 = padding) zeroes
        padded positions before in_proj and after the conv, as mamba_ssm / transformers do.
        hidden_loss_mask [B, L]: the positions L_hidden averages over (default: attention_mask)."""
        if attention_mask is not None:
            u = u * attention_mask[..., None].to(u.dtype)
        zxbcdt = self.in_proj(u)                                                          # Eq 16
        loss_mask = attention_mask if hidden_loss_mask is None else hidden_loss_mask
        loss_in = self.in_proj.hidden_loss(u, zxbcdt, loss_mask)                          # Eq 10
        z, xBC, dt = zxbcdt.split([self.d_inner, self.conv_dim, self.nheads], dim=-1)    # Eq 17
        xBC = self._conv(xBC, conv_state)
        if attention_mask is not None:
            xBC = xBC * attention_mask[..., None].to(xBC.dtype)
        y = self._scan(*self._split_xBC(xBC), dt, ssm_state)                              # Eq 18–19
        y = self._gate(y.flatten(-2).to(u.dtype), z)                                      # Eq 20
        out = self.out_proj(y)                                                            # Eq 21
        loss_out = self.out_proj.hidden_loss(y, out, loss_mask)                           # Eq 10
        return out, _add(loss_in, loss_out)

    def forward_step(self, u, conv_state, ssm_state):
        """One decoded token: u [B, 1, d_model] -> [B, 1, d_model]; the cache is updated in place.

        Between the projections, decoding on a CPU (float32, no autograd) takes the compiled step
        (`kernels.cpu_step`: Eq 17–20 in one pass; hooks on ``norm`` do not run there), else the
        torch step `_step` (with the CUDA kernels on a GPU)."""
        zxbcdt = self.in_proj(u[:, 0])                                                    # Eq 16
        step = kernels.cpu_step(zxbcdt, conv_state, ssm_state)
        if step is None:
            y = self._step(zxbcdt, conv_state, ssm_state, u.dtype)
        else:
            norm = self.norm
            y = step(zxbcdt, conv_state, ssm_state, self.conv1d.weight, self.conv1d.bias, self.dt_bias,
                     self.A_log, self.D, None if norm is None else norm.weight, self.ngroups,
                     self.d_inner if norm is None else norm.group_size, norm is not None and norm.norm_before_gate,
                     0.0 if norm is None else norm.eps, *self.dt_limit)
        return self.out_proj(y)[:, None]                                                  # Eq 21

    def _step(self, zxbcdt, conv_state, ssm_state, dtype):
        """Eq 17–20 for one token in torch ops (or the CUDA kernels): zxbcdt [B, d_in_proj] -> [B, d_inner]."""
        z, xBC, dt = zxbcdt.split([self.d_inner, self.conv_dim, self.nheads], dim=-1)    # Eq 17
        k = kernels.cuda_kernels(zxbcdt)
        if k is not None and k.conv_update is not None:
            xBC = k.conv_update(xBC[..., None], conv_state, self.conv1d.weight[:, 0], self.conv1d.bias,
                                activation="silu")[..., 0]
        else:
            xBC = causal_conv_step(xBC, self.conv1d.weight, self.conv1d.bias, conv_state)
        x, B, C = self._split_xBC(xBC)
        dt = self._softplus_dt(dt)
        A = -torch.exp(self.A_log.float())
        if k is not None and k.state_update is not None:
            p, n = self.headdim, self.d_state
            y = k.state_update(ssm_state, x, dt[..., None].expand(-1, -1, p),
                               A[:, None, None].expand(-1, p, n), B, C, D=self._D_heads().expand(-1, p),
                               z=None, dt_bias=None, dt_softplus=False)
        else:
            y = ssd_step(ssm_state, x, dt, A, B, C).addcmul_(x, self._D_heads())         # Eq 18–19
        return self._gate(y.flatten(-2).to(dtype), z)                                     # Eq 20

    # ---- pieces --------------------------------------------------------------------------------
    def _conv(self, xBC, conv_state):
        """xBC [B, L, conv_dim] -> SiLU(causal conv) [B, L, conv_dim]; cache updated in place."""
        x = xBC.transpose(1, 2)
        k = kernels.cuda_kernels(x)
        if k is not None and k.conv is not None and (conv_state is None or not conv_state.any()):
            if conv_state is not None:
                conv_state.copy_(F.pad(x, (conv_state.shape[-1] - x.shape[-1], 0))[..., -conv_state.shape[-1]:])
            y = k.conv(x, self.conv1d.weight[:, 0], self.conv1d.bias, activation="silu")
        else:
            y = causal_conv(x, self.conv1d.weight, self.conv1d.bias, conv_state)
        return y.transpose(1, 2)

    def _split_xBC(self, xBC):
        """[.., conv_dim] -> x [.., H, P], B [.., G, N], C [.., G, N]."""
        gn = self.ngroups * self.d_state
        x, B, C = xBC.split([self.d_inner, gn, gn], dim=-1)
        return (x.unflatten(-1, (self.nheads, self.headdim)), B.unflatten(-1, (self.ngroups, self.d_state)),
                C.unflatten(-1, (self.ngroups, self.d_state)))

    def _scan(self, x, B, C, dt, ssm_state):
        """x [B, L, H, P], B, C [B, L, G, N], dt [B, L, H] (raw) -> y [B, L, H, P] incl. D·x."""
        A = -torch.exp(self.A_log.float())
        k = kernels.cuda_kernels(x)
        if k is not None and k.chunk_scan is not None:
            D = self.D.view(self.nheads, self.headdim) if self.config.D_has_hdim else self.D  # kernel layout
            out = k.chunk_scan(x, dt, A, B, C, chunk_size=self.chunk_size, D=D, z=None, dt_bias=self.dt_bias,
                               dt_softplus=True, dt_limit=self.dt_limit, initial_states=ssm_state,
                               return_final_states=ssm_state is not None)
            y, final = out if ssm_state is not None else (out, None)
        else:
            y, final = ssd_chunked(x, self._softplus_dt(dt), A, B, C, self.chunk_size, ssm_state)
            y = y + x.float() * self._D_heads()
        if ssm_state is not None:
            ssm_state.copy_(final)
        return y

    def _softplus_dt(self, dt):
        """Δ = Softplus(Δ' + Δ_bias) (Appendix A), clamped to dt_limit, float32."""
        dt = F.softplus(dt.float() + self.dt_bias.float())
        lo, hi = self.dt_limit
        return dt if (lo, hi) == (0.0, float("inf")) else dt.clamp(lo, hi)

    def _D_heads(self):
        """The skip D as [H, P] (D_has_hdim) or [H, 1], float32, broadcasting over [.., H, P]."""
        return self.D.float().view(self.nheads, -1)

    def _gate(self, y, z):
        """Eq 20 (without rmsnorm: y ⊙ SiLU(z), as mamba_ssm)."""
        return self.norm(y, z) if self.norm is not None else y * F.silu(z)


def _add(a, b):
    return b if a is None else a if b is None else a + b


# ---------------------------------------------------------------- decode weight layout ----------

def set_decode_layout(linear: nn.Linear, column_major: bool) -> None:
    """Store ``linear.weight`` [out, in] column-major (``w.t().contiguous().t()``: same shape, values,
    name and Parameter object) when ``column_major`` and the weight is on a CPU, else row-major
    (contiguous); a no-op when it already is.

    Why: a decoded token multiplies one row [1, in] by the weight. On CPU (MKL, measured on AMD EPYC,
    one thread) that GEMV reads a column-major weight at ~1.3–1.7x the speed of a row-major one, for
    the same result up to float rounding (another summation order). `Mamba2Mixer.train` selects it
    automatically: column-major in eval mode on a CPU, row-major in training (where the optimizer
    states were created row-major) and whenever the weight is not on a CPU (cuBLAS reads either
    layout; a model moved to CUDA after ``eval()`` keeps whatever layout it had until ``train()``).
    State dicts stay contiguous (`contiguous_state`), so safetensors can save them in either mode.
    The conversion copies the weight once (never inside autograd: no graph, no inference tensor)."""
    w = linear.weight
    column_major = column_major and w.device.type == "cpu"
    if w.dim() != 2 or (w.stride() == (1, w.shape[0]) if column_major else w.is_contiguous()):
        return
    with torch.no_grad(), torch.inference_mode(False):
        w.data = w.data.t().contiguous().t() if column_major else w.data.contiguous()


def contiguous_state(module, state_dict, prefix, local_metadata):
    """state_dict post-hook: contiguous tensors whatever the decode layout (safetensors requires it;
    ``keep_vars=True`` Parameters are left as they are)."""
    for key, value in state_dict.items():
        if key.startswith(prefix) and not isinstance(value, nn.Parameter) and not value.is_contiguous():
            state_dict[key] = value.contiguous()
