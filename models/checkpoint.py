"""Checkpoint I/O: read mamba_ssm, transformers and SpikingMamba directories (local or hub) safely.

Three formats, told apart by config.json:

- mamba_ssm (`state-spaces/mamba2-*`): ``d_model``, ``n_layer``, ``ssm_cfg`` {"layer": "Mamba2", ...},
  ``vocab_size`` (unpadded; the weights are padded to ``pad_vocab_size_multiple``), weights in
  pytorch_model.bin with `MambaLMHeadModel` names — ours.
- transformers (``model_type: "mamba2"``): ``hidden_size``, ``n_groups`` (default 8, not 1!),
  ``tie_word_embeddings`` (default False) ...; safetensors; ``backbone.embeddings`` is renamed.
- SpikingMamba (``model_type: "spiking_mamba"``): our own `save_pretrained` output.

Weights load only through safetensors or ``torch.load(weights_only=True)``: nothing is unpickled.
Names resolve to a directory through `models.hub.resolve_dir` (a hub id: NOT RUN HERE, no network; the
tests use local directories). A file that cannot be read is a ValueError / OSError naming it and the fix.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import pickle
import shutil
import tempfile

import torch

from models.configuration import SpikingMambaConfig, default_sgc_layers
from models.hub import resolve_dir
from models.sgc import is_sgc_key, rename_legacy_keys
from models.shape import SIDES
from neurons.kinds import NONE

# mamba_ssm `MambaConfig` defaults (mamba_ssm/models/config_mamba.py).
MAMBA_SSM_LM_DEFAULTS = dict(d_intermediate=0, vocab_size=50277, ssm_cfg={}, attn_layer_idx=[], attn_cfg={},
                             rms_norm=True, residual_in_fp32=True, fused_add_norm=True,
                             pad_vocab_size_multiple=8, tie_embeddings=True)
# mamba_ssm `Mamba2.__init__` arguments that shape the math -> our field (defaults are the config's).
MAMBA_SSM_SSM_FIELDS = dict(d_state="d_state", d_conv="d_conv", expand="expand", headdim="headdim",
                            ngroups="ngroups", chunk_size="chunk_size", rmsnorm="rmsnorm",
                            norm_before_gate="norm_before_gate", D_has_hdim="D_has_hdim", bias="bias",
                            conv_bias="conv_bias", dt_limit="dt_limit")
# ... and the ones that only matter for initialisation or kernels.
MAMBA_SSM_SSM_IGNORED = {"layer", "dt_min", "dt_max", "dt_init_floor", "A_init_range", "conv_init",
                         "use_mem_eff_path", "activation", "sequence_parallel", "process_group"}
# transformers `Mamba2Config` field -> our field.
TRANSFORMERS_FIELDS = dict(vocab_size="vocab_size", hidden_size="d_model", num_hidden_layers="n_layer",
                           state_size="d_state", conv_kernel="d_conv", expand="expand", head_dim="headdim",
                           n_groups="ngroups", chunk_size="chunk_size", layer_norm_epsilon="norm_epsilon",
                           use_bias="bias", use_conv_bias="conv_bias", time_step_limit="dt_limit",
                           residual_in_fp32="residual_in_fp32", tie_word_embeddings="tie_word_embeddings",
                           pad_token_id="pad_token_id", bos_token_id="bos_token_id",
                           eos_token_id="eos_token_id")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
CHECKPOINT_PATTERNS = ["config.json", *WEIGHT_FILES, "model-*.safetensors", "pytorch_model-*.bin"]
WEIGHT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
NEURON_OVERRIDES = ("neuron_in", "neuron_out", "D", "T", "beta", "alpha", "v_threshold_in", "v_threshold_out",
                    "neuron_backend", "projection_path")
# transformers `PreTrainedModel.from_pretrained` kwargs that the Auto classes and tools (lm-eval's HFLM,
# TRL, accelerate) pass, and how they are treated here:
# - meaningless for this model whatever their value (no remote code, no attention, loading is always
#   safe and in place): ignored;
IGNORED_HUB_KWARGS = {"trust_remote_code", "_from_auto", "_from_pipeline", "_commit_hash", "code_revision",
                      "low_cpu_mem_usage", "use_safetensors", "weights_only", "disable_mmap", "tqdm_class",
                      "attn_implementation", "experts_implementation", "offload_folder", "offload_state_dict",
                      "offload_buffers", "adapter_name"}
# - a feature we cannot honour: accepted (and ignored) only while unset (None, False, "", {}, []);
#   any other value is a ValueError naming the kwarg and why.
UNSET_ONLY_HUB_KWARGS = {
    "gguf_file": "GGUF checkpoints are not supported",
    "quantization_config": "quantized loading is not supported",
    "load_in_8bit": "quantized loading is not supported",
    "load_in_4bit": "quantized loading is not supported",
    "max_memory": "model sharding across devices is not supported; pass device='cpu' or 'cuda'",
    "tp_plan": "tensor parallelism is not supported", "tp_size": "tensor parallelism is not supported",
    "device_mesh": "tensor parallelism is not supported",
    "distributed_config": "tensor parallelism is not supported",
    "adapter_kwargs": "PEFT adapters are not supported",
    "state_dict": "loading from a given state_dict is not supported; save it with save_pretrained(dir, "
                  "state_dict=...) and load the directory",
    "variant": "weight variants (model.<variant>.safetensors) are not supported",
    "key_mapping": "key renaming is not supported",
    "use_kernels": "hub kernels are not supported", "kernel_config": "hub kernels are not supported",
    "allow_all_kernels": "hub kernels are not supported",
    "fusion_config": "module fusion is not supported",
    "ignore_mismatched_sizes": "tensors whose shape does not fit the config are always an error",
    "output_loading_info": "loading is strict (every tensor is checked); there is no loading info to return",
    "generation_config": "pass generation settings to generate()",
    "proxies": "proxies are not supported; configure huggingface_hub's HTTP settings instead",
    "resume_download": "deprecated in huggingface_hub",
    "mirror": "mirrors are not supported",
}


@contextlib.contextmanager
def staged_directory(directory: str):
    """Write files into a temporary sibling directory, then move each into ``directory`` with
    os.replace, so no reader ever sees a half-written file."""
    os.makedirs(directory, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=directory)
    try:
        yield tmp
        for name in os.listdir(tmp):
            os.replace(os.path.join(tmp, name), os.path.join(directory, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- config.json -------------------

def read_config(directory: str) -> tuple[str, dict]:
    """-> (format, config dict) with format "mamba_ssm", "transformers" or "spiking_mamba"."""
    path = os.path.join(directory, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no config.json in {directory}; a Mamba2 checkpoint directory needs one")
    cfg = read_json(path, object_hook=_decode_float_tag)
    model_type = cfg.get("model_type")
    if model_type == SpikingMambaConfig.model_type:
        return "spiking_mamba", cfg
    if model_type == "mamba2":
        return "transformers", cfg
    if model_type is None and "d_model" in cfg and "n_layer" in cfg:
        return "mamba_ssm", cfg
    raise ValueError(f"{path} is not a Mamba2 checkpoint (model_type={model_type!r}); expected a "
                     "mamba_ssm Mamba2 config (d_model, n_layer, ssm_cfg), transformers 'mamba2' or 'spiking_mamba'")


def read_json(path: str, **kwargs) -> dict:
    """A JSON object from ``path``; ValueError naming the file when it is not UTF-8 JSON holding an object."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f, **kwargs)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}); the file is truncated or corrupt — re-download or "
                         "re-save it") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds a JSON {type(data).__name__}, not an object ({{...}}); the file is not "
                         "a checkpoint's config / index — re-download or re-save it")
    return data


def _decode_float_tag(obj: dict):
    """transformers writes inf / nan in config.json as {"__float__": "Infinity"}."""
    return float(obj["__float__"]) if set(obj) == {"__float__"} else obj


# ---------------------------------------------------------------- configs -----------------------

def _config_kwargs(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k not in ("model_type", "transformers_version", "architectures")}


def config_kwargs(directory: str) -> tuple[str, dict]:
    """(format, SpikingMambaConfig kwargs) of the checkpoint in ``directory``, checked by building the config: a field
    that does not fit is a ValueError naming its config.json."""
    from huggingface_hub.errors import StrictDataclassError

    fmt, raw = read_config(directory)
    try:
        if fmt == "spiking_mamba":
            kwargs = _config_kwargs(raw)
        else:
            kwargs = config_from_mamba_ssm(raw) if fmt == "mamba_ssm" else config_from_transformers(raw)
        SpikingMambaConfig(**kwargs)
    except (ValueError, StrictDataclassError) as err:
        raise ValueError(f"{os.path.join(directory, 'config.json')}: {_one_line(err)}") from err
    return fmt, kwargs


def config_from_mamba_ssm(cfg: dict) -> dict:
    """mamba_ssm `MambaConfig` dict -> SpikingMambaConfig kwargs (vocab padded as mamba_ssm pads)."""
    cfg = {**MAMBA_SSM_LM_DEFAULTS, **cfg}
    if not isinstance(cfg["ssm_cfg"] or {}, dict):
        raise ValueError(f"ssm_cfg = {cfg['ssm_cfg']!r} must be an object ({{\"layer\": \"Mamba2\", ...}})")
    ssm = dict(cfg["ssm_cfg"] or {})
    if ssm.get("layer", "Mamba1") != "Mamba2":
        raise ValueError(f"ssm_cfg.layer = {ssm.get('layer', 'Mamba1')!r}: only Mamba2 checkpoints "
                         "(ssm_cfg.layer = 'Mamba2', e.g. state-spaces/mamba2-*) are supported")
    if cfg["d_intermediate"]:
        raise ValueError(f"d_intermediate = {cfg['d_intermediate']}: Mamba2 blocks with an MLP are not supported")
    if cfg["attn_layer_idx"]:
        raise ValueError(f"attn_layer_idx = {cfg['attn_layer_idx']}: hybrid attention models are not supported")
    if not cfg["rms_norm"]:
        raise ValueError("rms_norm = false (LayerNorm blocks) is not supported; Mamba2 checkpoints use RMSNorm")
    if ssm.get("d_ssm") not in (None, ssm.get("expand", 2) * cfg["d_model"]):
        raise ValueError(f"ssm_cfg.d_ssm = {ssm['d_ssm']}: partial-SSM Mamba2 (extra gated MLP) is not supported")
    unknown = set(ssm) - set(MAMBA_SSM_SSM_FIELDS) - MAMBA_SSM_SSM_IGNORED - {"d_ssm"}
    if unknown:
        raise ValueError(f"unsupported ssm_cfg keys {sorted(unknown)} in a mamba_ssm config")
    mult = cfg["pad_vocab_size_multiple"]
    out = {ours: ssm[theirs] for theirs, ours in MAMBA_SSM_SSM_FIELDS.items() if theirs in ssm}
    out.update(d_model=cfg["d_model"], n_layer=cfg["n_layer"], vocab_size=math.ceil(cfg["vocab_size"] / mult) * mult,
               pad_vocab_size_multiple=mult, residual_in_fp32=cfg["residual_in_fp32"],
               tie_word_embeddings=cfg["tie_embeddings"], norm_epsilon=1e-5)
    return out


def config_from_transformers(cfg: dict) -> dict:
    """transformers `Mamba2Config` dict -> SpikingMambaConfig kwargs, with transformers' own defaults."""
    from transformers import Mamba2Config

    t = Mamba2Config(**{k: v for k, v in cfg.items() if k not in ("model_type", "architectures", "transformers_version")})
    if t.hidden_act != "silu":
        raise ValueError(f"hidden_act = {t.hidden_act!r}: Mamba2 uses SiLU; other activations are not supported")
    out = {ours: getattr(t, theirs) for theirs, ours in TRANSFORMERS_FIELDS.items()}
    if t.num_heads * t.head_dim != t.expand * t.hidden_size:
        raise ValueError(f"num_heads * head_dim = {t.num_heads * t.head_dim} != expand * hidden_size = "
                         f"{t.expand * t.hidden_size} in the transformers config")
    out["dt_limit"] = list(out["dt_limit"])
    return out


def transformers_config_dict(config: SpikingMambaConfig) -> dict:
    """The inverse of `config_from_transformers` (for writing transformers-format checkpoints)."""
    out = {theirs: getattr(config, ours) for theirs, ours in TRANSFORMERS_FIELDS.items()}
    out.update(num_heads=config.shape.nheads, time_step_limit=tuple(config.dt_limit))
    return out


# ---------------------------------------------------------------- weights ----------------------

def load_state_dict(directory: str) -> dict[str, torch.Tensor]:
    """All tensors of a checkpoint directory (single file or sharded index), loaded safely."""
    for name in WEIGHT_FILES:
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            continue
        if not name.endswith(".index.json"):
            return _load_file(path)
        weight_map = read_json(path).get("weight_map")
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
            raise ValueError(f"{path} has no \"weight_map\" of tensor name -> shard file; re-download or re-save it")
        shards = sorted(set(weight_map.values()))
        state = {}
        for shard in shards:
            shard_path = os.path.join(directory, shard)
            if not os.path.isfile(shard_path):
                raise FileNotFoundError(f"{path} lists shard {shard}, which is missing from {directory}")
            state.update(_load_file(shard_path))
        return state
    raise FileNotFoundError(f"no weights in {directory}: expected one of {', '.join(WEIGHT_FILES)}")


def _one_line(err: BaseException) -> str:
    """An exception's message on one line, else its type."""
    text = " ".join(line.strip() for line in str(err).strip().splitlines())
    return text or type(err).__name__


def _load_file(path: str) -> dict[str, torch.Tensor]:
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        try:
            return load_file(path)
        except Exception as err:  # safetensors raises SafetensorError / OSError on bad files
            raise ValueError(f"cannot read {path} ({_one_line(err)}); the file is truncated or not "
                             "safetensors — re-download or re-save it") from err
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError:
        raise
    except pickle.UnpicklingError as err:
        text = str(err).split("Unpickler error:", 1)
        reason = next((line.strip() for line in text[1].splitlines() if line.strip()), "") if len(text) > 1 else ""
        if "global" not in reason.lower():  # not a refused Python object: bytes that are not a checkpoint
            raise ValueError(f"cannot read {path} ({_one_line(err)}); the file is truncated or not a PyTorch "
                             "checkpoint — re-download it") from err
        raise ValueError(
            f"{path} holds Python objects that torch.load(weights_only=True) refuses to unpickle ({reason}). "
            "Loading it fully could run arbitrary code, so it is not done; if you trust the file, convert "
            "it once to safetensors (safetensors.torch.save_file(state_dict, 'model.safetensors'))."
        ) from err
    except (RuntimeError, EOFError, OSError, KeyError) as err:  # OSError: [Errno 22] at some truncations
        reason = f"{type(err).__name__}: {_one_line(err).split('. ')[0]}"  # torch's runs on for a paragraph
        raise ValueError(f"cannot read {path} ({reason}); the file is truncated or corrupt — "
                         "re-download it") from err
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a flat state dict of tensors")
    return state


def to_our_names(state: dict[str, torch.Tensor], fmt: str) -> dict[str, torch.Tensor]:
    """Rename a checkpoint's keys to ours: mamba_ssm names (transformers: backbone.embeddings ->
    embedding), and SpikingMamba SGC keys of older checkpoints (`models.sgc.rename_legacy_keys`)."""
    if fmt == "spiking_mamba":
        return rename_legacy_keys(state)
    if fmt != "transformers":
        return state
    return {k.replace("backbone.embeddings.", "backbone.embedding.", 1): v for k, v in state.items()}


def assign_weights(model, state: dict[str, torch.Tensor], source: str) -> None:
    """Copy ``state`` into ``model`` after checking names and shapes; tie lm_head; start new SGC
    branches from their projection. Raises ValueError naming every missing / unexpected tensor and
    the first tensor whose shape does not fit the config."""
    expected = model.state_dict()
    tied = model.config.tie_word_embeddings
    sgc = {k for k in expected if is_sgc_key(k)}
    state = {k: v for k, v in state.items() if not is_sgc_key(k) or k in sgc}  # SGC not asked for: drop
    if tied:
        state.pop("lm_head.weight", None)  # mamba_ssm saves the tied copy too
    required = set(expected) - sgc - ({"lm_head.weight"} if tied else set())
    missing, unexpected = sorted(required - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{source} does not match the config: missing tensors {missing[:8]}"
                         f"{' ...' if len(missing) > 8 else ''}, unexpected tensors {unexpected[:8]}"
                         f"{' ...' if len(unexpected) > 8 else ''}")
    for name, tensor in state.items():
        if tensor.dtype not in WEIGHT_DTYPES:
            raise ValueError(
                f"{source}: tensor {name} has dtype {tensor.dtype}; only floating-point weights "
                f"({', '.join(str(d).removeprefix('torch.') for d in WEIGHT_DTYPES)}) load — quantized checkpoints "
                "are not supported, load the unquantized one")
        if tensor.shape != expected[name].shape:
            raise ValueError(
                f"{source}: tensor {name} has shape {tuple(tensor.shape)} but the config expects "
                f"{tuple(expected[name].shape)} (d_model={model.config.d_model}, d_state={model.config.d_state}, "
                f"ngroups={model.config.ngroups}, headdim={model.config.headdim}, vocab_size={model.config.vocab_size}); "
                "the config.json does not describe these weights"
            )
    model.load_state_dict(state, strict=False, assign=True)  # the loaded tensors become the parameters
    if tied:
        model.tie_weights()
    loaded_sgc = {k.rsplit(".", 1)[0] for k in state if k in sgc}
    for site in model.spiking_projections():
        if site.module.sgc is not None and f"{site.name}.sgc" not in loaded_sgc:
            site.module.sgc.init_from_projection()


# ---------------------------------------------------------------- from_pretrained ---------------

def _is_spiking(config_kwargs: dict) -> bool:
    return any(config_kwargs.get(side.neuron_field, NONE) != NONE for side in SIDES.values())


def _is_unset(value) -> bool:
    """None, False, "" or an empty container: a transformers kwarg passed at its "nothing asked" value."""
    return value is None or value is False or (isinstance(value, (str, dict, list, tuple, set)) and not value)


def _single_device(device_map):
    """transformers' ``device_map`` when it names one device for the whole model ("cpu", "cuda:0", 0,
    torch.device, or {"": device} as lm-eval's HFLM passes it) -> that device; anything that places
    modules separately ("auto", "balanced", per-module dicts) -> ValueError."""
    if device_map is None:
        return None
    if isinstance(device_map, dict):
        if set(device_map) == {""}:
            return _single_device(device_map[""])
    elif isinstance(device_map, torch.device) or (isinstance(device_map, int) and not isinstance(device_map, bool)):
        return device_map
    elif isinstance(device_map, str) and device_map not in ("auto", "balanced", "balanced_low_0", "sequential"):
        return device_map
    raise ValueError(f"device_map={device_map!r} (model sharding) is not supported; pass device='cpu' or "
                     "'cuda' (or device_map={'': device})")


def load_pretrained(cls, name_or_path, *, neuron=None, v_threshold=None, sgc_layers=None, config=None,
                    dtype=None, torch_dtype=None, device=None, device_map=None, revision=None,
                    cache_dir=None, token=None, local_files_only=False, subfolder="", force_download=False,
                    **overrides):
    """See `SpikingMambaForCausalLM.from_pretrained`."""
    for key in IGNORED_HUB_KWARGS & set(overrides):
        overrides.pop(key)
    for key in sorted(set(UNSET_ONLY_HUB_KWARGS) & set(overrides)):
        value = overrides.pop(key)
        if not _is_unset(value):
            raise ValueError(f"from_pretrained({key}={value!r}): {UNSET_ONLY_HUB_KWARGS[key]} for SpikingMamba "
                             f"checkpoints; drop {key} (None / False is accepted and ignored)")
    unknown = set(overrides) - set(NEURON_OVERRIDES)
    if unknown:
        raise TypeError(f"from_pretrained got unexpected keyword arguments {sorted(unknown)}; neuron options "
                        f"are neuron, v_threshold, sgc_layers, {', '.join(NEURON_OVERRIDES)}")
    map_device = _single_device(device_map)
    if device is not None and map_device is not None and torch.device(device) != torch.device(map_device):
        raise ValueError(f"device={device!r} and device_map={device_map!r} disagree; pass one of them")
    for side in SIDES.values():
        if neuron is not None:
            overrides.setdefault(side.neuron_field, neuron)
        if v_threshold is not None:
            overrides.setdefault(side.threshold_field, v_threshold)

    directory = resolve_dir(name_or_path, allow_patterns=CHECKPOINT_PATTERNS, revision=revision,
                            cache_dir=cache_dir, token=token, local_files_only=local_files_only,
                            subfolder=subfolder, force_download=force_download)
    fmt, kwargs = config_kwargs(directory)
    if fmt == "spiking_mamba" and isinstance(config, SpikingMambaConfig):
        kwargs = _config_kwargs(config.to_dict())
    saved_student = _is_spiking(kwargs)  # mamba_ssm / transformers checkpoints are always teachers
    kwargs.update(overrides)
    if sgc_layers is not None:
        kwargs["sgc_layers"] = list(sgc_layers)
    elif not saved_student or not _is_spiking(kwargs):  # a student built from a teacher, or a teacher
        kwargs["sgc_layers"] = default_sgc_layers(
            kwargs["n_layer"], *(kwargs.get(side.neuron_field, NONE) for side in SIDES.values()),
            kwargs.get("D", SpikingMambaConfig.D))
    # else: a saved student keeps its saved list ([] for an inference checkpoint, the trained branches
    # of a keep_sgc=True checkpoint), also when neuron= changes its neuron kind
    cfg = SpikingMambaConfig(**kwargs)
    cfg.name_or_path = os.fspath(name_or_path)

    from transformers.initialization import no_init_weights

    with no_init_weights():  # every tensor is overwritten by the checkpoint (or by W for new SGC branches)
        model = cls(cfg)
    assign_weights(model, to_our_names(load_state_dict(directory), fmt), f"checkpoint {directory}")
    dtype = dtype if dtype is not None else (torch_dtype if torch_dtype is not None else torch.float32)
    if dtype == "auto":
        dtype = None  # keep the checkpoint's dtype
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    target = device if device is not None else map_device
    if dtype is not None or target is not None:
        model.to(device=target, dtype=dtype)
    return model.eval()
