"""`SpikingMambaForCausalLM`: the Mamba2 language model (mamba_ssm `MambaLMHeadModel` layout) with
SpikingMamba's neurons (§3.2, §4.1), the SGC loss (§4.2) and recurrent generation.

    embedding ─ [ residual += mixer(norm(residual)) ] × n_layer ─ norm_f ─ lm_head (tied)

The embedding and LM head stay dense (§3.2); the neurons live inside each mixer (`models/mamba2.py`).
With neuron "none" this is exactly Mamba2 (the teacher).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoModelForCausalLM, GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.utils import ModelOutput

from models.cache import Mamba2Cache
from models.configuration import SpikingMambaConfig
from models.mamba2 import GatedRMSNorm, Mamba2Mixer, RMSNorm, contiguous_state, set_decode_layout
from models.projection import ProjectionSite, projection_sites
from models.sgc import SGCBranch, is_sgc_key


@dataclass
class SpikingMambaOutput(ModelOutput):
    """The backbone's output (transformers' ``Mamba2Output`` plus L_hidden). last_hidden_state: after
    norm_f [B, L, d_model]; cache_params: the recurrent cache (use_cache); hidden_states: residual stream
    after the embedding and after each block (n_layer + 1 tensors, the last before norm_f); loss_hidden:
    Eq 10 summed over the SGC projections (None without SGC or outside training)."""

    last_hidden_state: torch.Tensor | None = None
    cache_params: Mamba2Cache | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    loss_hidden: torch.Tensor | None = None


@dataclass
class SpikingMambaCausalLMOutput(ModelOutput):
    """loss: next-token CE (labels given), logits [B, L, V] float32, loss_hidden: Eq 10 summed over
    the SGC projections (0 without SGC or in eval mode), cache_params: the recurrent cache
    (use_cache), hidden_states: residual stream after the embedding and after each block
    (n_layer + 1 tensors [B, L, d_model]; the last is the final block's output before norm_f)."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    loss_hidden: torch.Tensor | None = None
    cache_params: Mamba2Cache | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None


class Mamba2Block(GradientCheckpointingLayer):
    """Pre-norm residual block: residual + mixer(norm(residual)), residual kept in float32 if asked."""

    def __init__(self, config: SpikingMambaConfig, layer_idx: int):
        super().__init__()
        self.norm = RMSNorm(config.d_model, config.norm_epsilon)
        self.mixer = Mamba2Mixer(config, layer_idx)

    def forward(self, residual, conv_state=None, ssm_state=None, attention_mask=None, hidden_loss_mask=None):
        out, loss_hidden = self.mixer(self.norm(residual), conv_state, ssm_state, attention_mask, hidden_loss_mask)
        return residual + out, loss_hidden


class SpikingMambaPreTrainedModel(PreTrainedModel):
    config_class = SpikingMambaConfig
    config: SpikingMambaConfig
    base_model_prefix = "backbone"
    _no_split_modules = ["Mamba2Block"]
    supports_gradient_checkpointing = True
    _is_stateful = True

    @torch.no_grad()
    def _init_weights(self, module):
        """mamba_ssm's initialisation (Mamba2 + MambaLMHeadModel). Students never use it: they start
        from the teacher's weights; it serves random tiny models."""
        if isinstance(module, (nn.Linear, nn.Embedding)):
            init.normal_(module.weight, std=0.02)
            if getattr(module, "bias", None) is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Conv1d):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, Mamba2Mixer):
            h = module.nheads
            init.copy_(module.A_log, torch.log(torch.empty(h).uniform_(1, 16)))            # A ∈ [-16, -1]
            dt = torch.exp(torch.rand(h) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3)).clamp(min=1e-4)
            init.copy_(module.dt_bias, dt + torch.log(-torch.expm1(-dt)))                  # softplus⁻¹(dt)
            init.ones_(module.D)
        elif isinstance(module, (RMSNorm, GatedRMSNorm)):
            init.ones_(module.weight)
        elif isinstance(module, SGCBranch):
            module.init_from_projection()


class SpikingMambaModel(nn.Module):
    """The backbone: embedding, n_layer blocks, final RMSNorm (mamba_ssm `MixerModel` names), called as
    transformers' ``Mamba2Model`` is (TRL reads ``model.base_model(input_ids=...).last_hidden_state``)."""

    def __init__(self, config: SpikingMambaConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.layers = nn.ModuleList(Mamba2Block(config, i) for i in range(config.n_layer))
        self.norm_f = RMSNorm(config.d_model, config.norm_epsilon)
        self.residual_in_fp32 = config.residual_in_fp32

    def forward(self, input_ids=None, inputs_embeds=None, attention_mask=None, cache_params: Mamba2Cache | None = None,
                use_cache: bool | None = False, output_hidden_states: bool | None = False,
                return_dict: bool | None = True, hidden_loss_mask=None, **kwargs) -> SpikingMambaOutput | tuple:
        """input_ids [B, L] (or inputs_embeds [B, L, d_model]) -> `SpikingMambaOutput`.

        With ``cache_params`` the tokens continue the cached sequence (one token: the recurrent step;
        several: the chunked scan from the cached state) and the cache is updated in place;
        ``use_cache=True`` creates the cache when none is given. ``attention_mask`` [B, L] (1 = token,
        0 = padding) zeroes padding; a mask of another length (generate() passes the whole history's) is
        ignored, the prompt's having been applied when it was prefilled. ``hidden_loss_mask`` [B, L]: the
        positions ``loss_hidden`` (Eq 10) averages over, e.g. a response's (default: attention_mask)."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        if inputs_embeds is None:
            inputs_embeds = self.embedding(input_ids)
        if cache_params is None and use_cache:
            cache_params = Mamba2Cache(self.config, inputs_embeds.shape[0], inputs_embeds.dtype, inputs_embeds.device)
        if attention_mask is not None and attention_mask.shape[-1] != inputs_embeds.shape[1]:
            attention_mask = None
        cache = cache_params
        residual = inputs_embeds.float() if self.residual_in_fp32 else inputs_embeds
        hidden, loss_hidden = ((residual,) if output_hidden_states else None), None
        step = cache is not None and cache.seqlen_offset > 0 and residual.shape[1] == 1
        for i, block in enumerate(self.layers):
            if step:
                residual = residual + block.mixer.forward_step(
                    block.norm(residual), cache.conv_states[i], cache.ssm_states[i])
            else:
                states = (cache.conv_states[i], cache.ssm_states[i]) if cache is not None else (None, None)
                residual, loss = block(residual, *states, attention_mask, hidden_loss_mask)
                if loss is not None:
                    loss_hidden = loss if loss_hidden is None else loss_hidden + loss
            if output_hidden_states:
                hidden += (residual,)
        if cache is not None:
            cache.seqlen_offset += inputs_embeds.shape[1]
        out = SpikingMambaOutput(last_hidden_state=self.norm_f(residual), cache_params=cache, hidden_states=hidden,
                                 loss_hidden=loss_hidden)
        return out.to_tuple() if return_dict is False else out


class SpikingMambaForCausalLM(SpikingMambaPreTrainedModel, GenerationMixin):
    """Mamba2 / SpikingMamba causal LM. See docs/ARCHITECTURE.md "models/ public API"."""

    _tied_weights_keys = {"lm_head.weight": "backbone.embedding.weight"}
    _supported_generation_modes = ("greedy_search", "sample")

    def __init__(self, config: SpikingMambaConfig):
        super().__init__(config)
        self.backbone = SpikingMambaModel(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.post_init()
        self.register_state_dict_post_hook(contiguous_state)

    def train(self, mode: bool = True):
        """nn.Module.train, plus the LM head's decode weight layout (`models.mamba2.set_decode_layout`:
        column-major in eval mode on CPU, where scoring the vocabulary for one token reads it ~1.5x
        faster; the blocks' projections do the same). The tied embedding is the same Parameter; its
        one-row lookups do not care about the layout."""
        super().train(mode)
        set_decode_layout(self.lm_head, not mode)
        return self

    def get_input_embeddings(self):
        return self.backbone.embedding

    def set_input_embeddings(self, value):
        self.backbone.embedding = value

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        return False  # the forward creates its own `Mamba2Cache`; generate() passes it back

    def forward(self, input_ids=None, inputs_embeds=None, attention_mask=None, labels=None,
                cache_params: Mamba2Cache | None = None, use_cache: bool | None = None,
                output_hidden_states: bool | None = None, return_dict: bool | None = None,
                logits_to_keep: int = 0, hidden_loss_mask=None, **kwargs) -> SpikingMambaCausalLMOutput | tuple:
        """input_ids [B, L] (or inputs_embeds [B, L, d_model]) -> `SpikingMambaCausalLMOutput`.

        With ``cache_params`` the tokens continue the cached sequence (one token: the recurrent step;
        several: the chunked scan from the cached state); ``use_cache=True`` creates the cache when
        none is given. ``labels`` [B, L] give the shifted next-token CE (-100 ignored). ``loss`` is the
        CE only; pipelines add ``loss_hidden`` (Eq 12). ``attention_mask`` [B, L] zeroes padding;
        ``hidden_loss_mask`` [B, L] restricts ``loss_hidden`` to some positions (default: attention_mask)."""
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        base = self.backbone(input_ids, inputs_embeds, attention_mask, cache_params, use_cache,
                             bool(output_hidden_states), hidden_loss_mask=hidden_loss_mask)
        hidden, loss_hidden = base.last_hidden_state, base.loss_hidden
        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:]
        logits = self.lm_head(hidden.to(self.lm_head.weight.dtype)).float()
        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)
        if loss_hidden is None:
            loss_hidden = logits.new_zeros(())
        out = SpikingMambaCausalLMOutput(loss=loss, logits=logits, loss_hidden=loss_hidden,
                                         cache_params=base.cache_params, hidden_states=base.hidden_states)
        return out.to_tuple() if return_dict is False else out

    def prepare_inputs_for_generation(self, input_ids, cache_params=None, attention_mask=None, **kwargs):
        """Prefill the whole prompt, then feed one token at a time with the cache."""
        if cache_params is not None and cache_params.seqlen_offset > 0:
            return {"input_ids": input_ids[:, -1:], "cache_params": cache_params,
                    "use_cache": True, "logits_to_keep": kwargs.get("logits_to_keep", 0)}
        return super().prepare_inputs_for_generation(
            input_ids, cache_params=cache_params, attention_mask=attention_mask, **kwargs)

    # ---- the spiking projections (§4.1) ---------------------------------------------------------
    def projections(self) -> list[ProjectionSite]:
        """Every block's in_proj and out_proj as (name, layer, side, module), in layer order."""
        return projection_sites(self)

    def spiking_projections(self) -> list[ProjectionSite]:
        """The projections with a neuron in front (none for the Mamba2 teacher)."""
        return projection_sites(self, spiking_only=True)

    def set_spike_driven(self, enabled: bool = True) -> "SpikingMambaForCausalLM":
        """Switch every spiking projection between integer mode (False) and spike-driven inference
        (True): micro-step spikes (Eq 7–8) into `SpikeDrivenLinear.forward_spikes` (Eq 9)."""
        for site in self.spiking_projections():
            site.module.spike_driven = enabled
        return self

    def set_projection_path(self, path: str = "auto") -> "SpikingMambaForCausalLM":
        """How every spiking projection computes W·q in inference: "event" (only the weight columns of the
        active inputs, `neurons.event`), "dense" (F.linear) or "auto" (event where measured faster);
        training always runs dense. Also sets ``config.projection_path``."""
        for site in self.spiking_projections():
            site.module.path = path
        self.config.projection_path = path
        return self

    def sgc_parameters(self):
        """The SGC branches' W′ (and bias): trained, never part of inference (§4.2)."""
        return [p for site in self.spiking_projections() if site.module.sgc is not None
                for p in site.module.sgc.parameters()]

    # ---- checkpoints ---------------------------------------------------------------------------
    def save_pretrained(self, save_directory, keep_sgc: bool = False, state_dict: dict | None = None, **kwargs):
        """Write config.json + model.safetensors, each file atomically (temp dir + os.replace).

        By default this is an inference checkpoint: the SGC branches are dropped and the saved config
        has ``sgc_layers = []``. ``keep_sgc=True`` keeps them (to resume training).

        ``state_dict``: the tensors to write instead of this module's own, named as in
        ``self.state_dict()`` — what accelerate / TRL / DeepSpeed pass when the module holds only a shard
        (ZeRO-3 gathered weights). It is treated like the module's own: SGC tensors dropped unless
        ``keep_sgc``, the tied ``lm_head.weight`` not written (the loader re-ties it), safetensors.
        A name the model does not have is a ValueError; tensors are written as given (dtype included).
        The caller's dict is not modified."""
        from models.checkpoint import staged_directory

        own = self.state_dict()
        if state_dict is None:
            state_dict = own
        else:
            unexpected = sorted(set(state_dict) - set(own))
            if unexpected:
                raise ValueError(f"save_pretrained(state_dict=...): tensors {unexpected[:8]}"
                                 f"{' ...' if len(unexpected) > 8 else ''} are not in this model (names must "
                                 "match model.state_dict(), e.g. without a 'module.' prefix)")
        state = {k: v for k, v in state_dict.items() if keep_sgc or not is_sgc_key(k)}
        if self.config.tie_word_embeddings:
            state.pop("lm_head.weight", None)  # the embedding is the saved copy (as mamba_ssm ties it)
        sgc_layers = self.config.sgc_layers
        try:
            if not keep_sgc:
                self.config.sgc_layers = []
            with staged_directory(save_directory) as tmp:
                super().save_pretrained(tmp, state_dict=state, **kwargs)
        finally:
            self.config.sgc_layers = sgc_layers

    @classmethod
    def register_for_auto_class(cls, auto_class="AutoModelForCausalLM"):
        """Nothing to record: the config's save_pretrained ships the remote code (`models.remote_code`)."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """Load a mamba_ssm Mamba2 directory (config.json + pytorch_model.bin), a transformers Mamba2
        directory, or a saved SpikingMamba, from a local path or a Hugging Face hub name.

        Keyword overrides: neuron= (both sides) or neuron_in= / neuron_out=, D=, T=, beta=, alpha=,
        v_threshold= (both) or v_threshold_in= / v_threshold_out=, dtype= (default float32; "auto"
        keeps the checkpoint's), device=, revision=, cache_dir=, subfolder=.

        sgc_layers= (§4.2, Appendix C):
          - a list: exactly these blocks get an SGC branch (``[]`` disables SGC);
          - None (default), building a student from a *teacher* — a checkpoint whose neurons are all
            "none": a mamba_ssm or transformers Mamba2 directory, or a saved SpikingMamba with neuron
            "none" (whose saved list is always empty) — with a spiking neuron=: the default
            `models.configuration.default_sgc_layers` (first, middle and last block);
          - None, reloading a saved *student* (a SpikingMamba checkpoint with spiking neurons): its
            saved list — ``[]`` for an inference checkpoint, the trained branches for
            ``save_pretrained(keep_sgc=True)`` — also when neuron= changes the neuron kind;
          - None whenever the model built has no spiking neuron: ``[]``.
        A student starts from the teacher's weights; W′ of new SGC branches starts from W.

        transformers' own from_pretrained kwargs, as the Auto classes, lm-eval's HFLM and TRL pass
        them, are accepted: those meaningless here (trust_remote_code, low_cpu_mem_usage,
        attn_implementation, ...) are ignored; a single-device device_map ("cpu", {"": "cuda:0"})
        sets the device; the others (gguf_file, quantization_config, max_memory, state_dict, ...) are
        ignored when unset (None, False, "", {}) and a ValueError naming the kwarg otherwise, as are a
        sharding device_map ("auto", per-module) and a revision other than "main" for a local
        directory. See `models.checkpoint.load_pretrained`."""
        from models.checkpoint import load_pretrained

        if model_args:
            raise TypeError(f"from_pretrained takes keyword arguments only, got extra positionals {model_args}")
        return load_pretrained(cls, pretrained_model_name_or_path, **kwargs)


AutoModelForCausalLM.register(SpikingMambaConfig, SpikingMambaForCausalLM, exist_ok=True)
