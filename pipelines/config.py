"""YAML config + ``key=value`` overrides -> a validated dataclass (shared by every training pipeline).

A pipeline declares its settings as one flat dataclass whose fields carry a ``help`` string in their
metadata (see ``field_``). ``load_config`` reads a YAML file, applies command-line overrides, rejects
unknown keys (listing the valid ones, with a "did you mean" hint) and checks each value's type
against the field's annotation, so a typo fails at startup, not hours into a run.

Files and override values are parsed as YAML 1.2 (``yaml_load``), so ``lr=3e-4`` is a float,
``mixed_precision=no`` is the string "no" (YAML 1.1 would make both surprises), and
``betas=[0.9,0.95]``, ``teacher=null`` and ``sgc_layers=[0,11]`` all mean what they look like.

``TrainingConfig`` holds the keys every training pipeline shares (optimisation as in Appendix C, data
caching, the run directory, checkpoint cadence, resume); a pipeline subclasses it, adds its own keys
and may redeclare a shared one to change its default.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import re
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml

from pipelines.atomic import atomic_write_text


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans (only true/false) and floats (1e-3 without a dot)."""


_BOOL, _FLOAT = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:float"
_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Yaml12Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(r"^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."),
)


def yaml_load(text: str, source: str = "YAML") -> Any:
    """Parse YAML with YAML 1.2 scalars (see the module docstring); safe: plain data only. Malformed YAML
    raises ValueError naming ``source`` with the line and column."""
    try:
        return yaml.load(text, Loader=_Yaml12Loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ValueError(f"{source} is not valid YAML{where}: {problem}; fix the syntax there "
                         "(quote a value holding ':', '#', '[' or '{')") from None


def field_(default: Any, help: str, path: bool = False) -> Any:
    """A dataclass field with a help string (shown by ``format_help``); lists/dicts are copied. ``path``: its
    value (or each entry's, or an entry's ``path``) names a file or directory (``resolve_paths``)."""
    metadata = {"help": help, "path": path}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


PATHS_HELP = ("Relative paths in a YAML file (datasets, teacher, policy, data, ...) are read against the file's "
              "directory where something exists there (local data files always); otherwise, and on the "
              "command line, against the current directory. output_dir is always relative to the current "
              "directory.")


def _resolve_path(value: Any, base: Path) -> Any:
    from pipelines.data import LOCAL_SUFFIXES

    if isinstance(value, list):
        return [_resolve_path(v, base) for v in value]
    if isinstance(value, dict) and isinstance(value.get("path"), str):
        return {**value, "path": _resolve_path(value["path"], base)}
    if not isinstance(value, str) or Path(value).expanduser().is_absolute():
        return value
    candidate = base / value
    return str(candidate) if candidate.exists() or Path(value).suffix in LOCAL_SUFFIXES else value


def resolve_paths(schema: type, values: dict[str, Any], base: Path) -> dict[str, Any]:
    """``values`` with the relative paths of ``schema``'s path fields read against ``base`` (``PATHS_HELP``)."""
    paths = {f.name for f in dataclasses.fields(schema) if f.metadata.get("path")}
    return {k: _resolve_path(v, base) if k in paths else v for k, v in values.items()}


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["lr=1e-3", "betas=[0.9, 0.98]"]`` -> ``{"lr": 0.001, "betas": [0.9, 0.98]}`` (values parsed as YAML)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {item!r} is not of the form key=value (e.g. lr=1e-3, max_steps=100)")
        out[key.strip()] = yaml_load(value, f"override {item!r}") if value.strip() else None
    return out


def normalize_flags(schema: type, argv: list[str], reserved: set[str]) -> list[str]:
    """HF / TRL spellings of overrides -> ``key=value``: ``--key value`` and ``--key=value`` for every field of
    ``schema`` not in ``reserved`` (``-`` read as ``_``); a bool field given as a bare ``--key`` is true.
    Everything else is returned as it was."""
    fields = {f.name: f for f in dataclasses.fields(schema)}
    hints = typing.get_type_hints(schema)
    out, i = [], 0
    while i < len(argv):
        item = argv[i]
        name, sep, value = item[2:].partition("=")
        key = name.replace("-", "_")
        if not item.startswith("--") or key not in fields or key in reserved:
            out.append(item)
        elif sep:
            out.append(f"{key}={value}")
        elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            out.append(f"{key}={argv[i + 1]}")
            i += 1
        elif hints[key] is bool:
            out.append(f"{key}=true")
        else:
            raise ValueError(f"{item} needs a value: {item} VALUE, {item}=VALUE or {key}=VALUE "
                             f"({fields[key].metadata.get('help', '')})")
        i += 1
    return out


def format_overrides(values: dict[str, Any]) -> list[str]:
    """The inverse of ``parse_overrides``: ``{"D": 4, "sgc_layers": None}`` -> ``["D=4", "sgc_layers=null"]``
    (JSON values are YAML 1.2; strings stay bare)."""
    return [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in values.items()]


def _check_type(value: Any, annotation: Any) -> Any:
    """Return ``value`` (an int made a float where a float is expected) or raise TypeError."""
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(annotation):
            try:
                return _check_type(value, option)
            except TypeError:
                continue
        raise TypeError
    if annotation is type(None):
        if value is None:
            return None
        raise TypeError
    if origin is typing.Literal:
        if value in typing.get_args(annotation):
            return value
        raise TypeError
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise TypeError
        (item_type, *_) = typing.get_args(annotation) or (Any,)
        return [_check_type(v, item_type) for v in value]
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise TypeError
        return dict(value)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is int and isinstance(value, bool):
        raise TypeError
    if isinstance(annotation, type) and isinstance(value, annotation):
        return value
    raise TypeError


def _type_name(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else str(annotation).replace("typing.", "")


def check_values(schema: type, values: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """``values`` with types checked against ``schema``'s fields; unknown keys and ill-typed values raise
    ValueError naming the fix. (Cross-field checks are the schema's ``__post_init__``.)"""
    fields = {f.name: f for f in dataclasses.fields(schema)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, fields, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(
            f"unknown key(s) in {source}: {', '.join(hints)}.\nValid keys: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(schema)
    checked = {}
    for key, value in values.items():
        try:
            checked[key] = _check_type(value, hints[key])
        except TypeError:
            raise ValueError(
                f"{source}: {key}={value!r} has the wrong type; expected {_type_name(hints[key])}"
                f" ({fields[key].metadata.get('help', '')})"
            ) from None
    return checked


def config_from_dict(schema: type, values: dict[str, Any], source: str = "config") -> Any:
    """``schema(**values)`` after ``check_values``."""
    return schema(**check_values(schema, values, source))


def load_config(schema: type, path: str | Path | None, overrides: list[str] | dict | None = None) -> Any:
    """Read ``path`` (YAML mapping; None -> defaults), apply ``overrides`` and validate into ``schema``."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise (IsADirectoryError if path.is_dir() else FileNotFoundError)(
                f"config file {str(path)!r} {'is a directory' if path.is_dir() else 'does not exist'}; give a "
                "YAML file (e.g. pipelines/configs/distill_tiny.yaml)")
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            raise ValueError(f"config file {str(path)!r} is not text; give a YAML file") from None
        loaded = yaml_load(text, f"config file {str(path)!r}")
        if loaded is not None and not isinstance(loaded, dict):
            raise ValueError(f"{path} must hold a YAML mapping of key: value, not {type(loaded).__name__}")
        check_values(schema, loaded or {}, source=str(path))  # report file errors against the file
        values.update(resolve_paths(schema, loaded or {}, path.resolve().parent))
    if overrides:
        extra = overrides if isinstance(overrides, dict) else parse_overrides(overrides)
        check_values(schema, extra, source="command-line overrides")
        values.update(extra)
    return config_from_dict(schema, values, source=str(path) if path else "config")


def config_to_dict(config: Any) -> dict[str, Any]:
    """The resolved config as plain YAML-able values."""
    return dataclasses.asdict(config)


def save_config(config: Any, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically (tmp file, then os.replace)."""
    atomic_write_text(path, yaml.safe_dump(config_to_dict(config), sort_keys=False))


def diff_configs(old: dict[str, Any], new: dict[str, Any], ignore: set[str] = frozenset()) -> list[str]:
    """Human-readable lines for keys whose values differ (``ignore``-d keys skipped)."""
    keys = sorted((set(old) | set(new)) - set(ignore))
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]


def format_help(schema: type) -> str:
    """One line per key: name, default and help — for ``--help``."""
    lines = []
    for f in dataclasses.fields(schema):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        lines.append(f"  {f.name} (default {default!r}{', a path' if f.metadata.get('path') else ''})\n"
                     f"      {f.metadata.get('help', '')}")
    return "\n".join(lines)


@dataclasses.dataclass
class TrainingConfig:
    """Keys shared by the training pipelines (``python -m pipelines distill`` / ``rl``)."""

    # Keys that may change between a run and its resumption (all others must match the saved config, except
    # those named by allow_config_change). A larger max_steps extends the run, as in HF Trainer.
    RESUMABLE_CHANGES: ClassVar[frozenset[str]] = frozenset({
        "resume", "save_every", "keep_last", "log_every", "tensorboard", "output_dir", "micro_batch_size",
        "num_proc", "data_cache_dir", "eval_every", "max_steps", "allow_config_change"})

    # --- data ---------------------------------------------------------------------------------------
    chat_template: str | None = field_(None, "Jinja chat template for chat data (null: the tokenizer's, or the "
                                             "Zephyr-style default of pipelines/data.py when it has none)")
    data_cache_dir: str | None = field_(None, "datasets cache directory (null: HF_DATASETS_CACHE)")
    num_proc: int | None = field_(None, "processes for tokenization (null: in-process)")
    # --- optimisation (Appendix C) ------------------------------------------------------------------
    freeze_embedding: bool = field_(True, "keep the embedding (and the LM head tied to it) frozen "
                                          "(Appendix C: 'frozen throughout training')")
    global_batch_size: int = field_(32, "examples per optimizer step over all processes (Appendix C: 32)")
    micro_batch_size: int = field_(1, "examples per forward pass per process; gradient accumulation fills "
                                      "the rest (global = micro x processes x accumulation)")
    lr: float = field_(1e-3, "peak learning rate (Appendix C: 1e-3 for distillation, 5e-6 for RL)")
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
    seed: int = field_(0, "seeds the data order and torch")
    # --- run ----------------------------------------------------------------------------------------
    output_dir: str = field_("runs/train", "checkpoints, metrics.jsonl, config.yaml and final/ go here")
    save_every: int = field_(500, "checkpoint every N optimizer steps (and at the end)")
    keep_last: int = field_(2, "checkpoints to keep")
    log_every: int = field_(10, "write metrics every N steps")
    eval_every: int | None = field_(None, "evaluate on the held-out data every N steps (null: at the end only)")
    tensorboard: bool = field_(True, "also log to OUTPUT_DIR/tensorboard when tensorboard is installed")
    resume: bool | Literal["auto"] = field_(False, "true: continue from the latest checkpoint (error if none); "
                                                   "auto: continue if there is one, else start")
    allow_config_change: list[str] = field_([], "keys that may differ from the saved config when resuming "
                                                "(--allow-config-change lr: e.g. a lower lr after a divergence); "
                                                "each change is recorded in OUTPUT_DIR/config_history.jsonl")

    def resumable_changes(self) -> set[str]:
        """The keys whose value may differ from the saved config on resume."""
        return set(self.RESUMABLE_CHANGES) | set(self.allow_config_change)

    def __post_init__(self):
        for key in ("global_batch_size", "micro_batch_size", "num_epochs", "save_every", "keep_last", "log_every"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key}={getattr(self, key)} must be >= 1")
        if self.eval_every is not None and self.eval_every < 1:
            raise ValueError(f"eval_every={self.eval_every} must be >= 1 (or null: at the end only)")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps={self.max_steps} must be >= 1 (or null for num_epochs over the data)")
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr} must be > 0")
        if not 0 <= self.warmup_ratio < 1 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"warmup_ratio={self.warmup_ratio} must be in [0, 1) and "
                             f"min_lr_ratio={self.min_lr_ratio} in [0, 1]")
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = [k for k in self.allow_config_change if k not in fields]
        if unknown:
            raise ValueError(f"allow_config_change names unknown key(s) {unknown}; valid keys: "
                             f"{', '.join(sorted(fields))}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas={self.betas} must be two numbers in [0, 1), e.g. [0.9, 0.98]")
