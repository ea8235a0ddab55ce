"""The demo's shipped teacher: ``pipelines/demo/teacher/``, pretrained once by the demo's own teacher stage.

The paper's method starts from a pretrained Mamba2, so ``make demo`` does too: the folder holds the
default recipe's teacher (``model.safetensors``, ``config.json``, the tokenizer; the pretraining run's
``config.yaml`` and ``metrics.jsonl`` with its held-out curve), ``provenance.json`` (what made it: the
command, the teacher stage, the data key and corpus hash, the thread count, the held-out perplexity
against a freshly initialised model of the same shape, the SHA-256 of every file) and ``README.md``, the
model card generated from ``provenance.json``.

A run uses it when its teacher stage would make it: ``provenance["teacher_key"]`` equals
``DemoRecipe.teacher_key`` of the run's recipe and data at the recorded thread count (the quick preset,
or an edited teacher stage, pretrain their own teacher into the cache instead). ``--pretrain`` retrains
from scratch; ``python -m pipelines demo --ship-teacher [--fresh]`` pretrains (or reuses the cached
pretraining of) the default teacher and rewrites this folder.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import platform
import shutil
from pathlib import Path

from pipelines.demo.prepare import DemoData
from pipelines.demo.recipe import DemoRecipe

SHIPPED_TEACHER = Path(__file__).parent / "teacher"
PROVENANCE = "provenance.json"
CARD = "README.md"
RUN_FILES = ("config.yaml", "metrics.jsonl")   # from the pretraining run, beside the files of its final/
FRESH_SEED = 0                                  # the freshly initialised model the teacher is compared with


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_provenance(folder: str | Path = SHIPPED_TEACHER) -> dict | None:
    path = Path(folder) / PROVENANCE
    return json.loads(path.read_text()) if path.is_file() else None


def verify(folder: str | Path = SHIPPED_TEACHER) -> dict:
    """``folder``'s provenance, after checking every recorded file's SHA-256; raises ValueError naming
    the files that are missing or differ (a corrupted or hand-edited teacher)."""
    folder = Path(folder)
    provenance = load_provenance(folder)
    if provenance is None:
        raise FileNotFoundError(f"{folder} holds no {PROVENANCE}")
    bad = [name for name, sha in provenance["files"].items()
           if not (folder / name).is_file() or file_sha256(folder / name) != sha]
    if bad:
        raise ValueError(f"the shipped teacher in {folder} does not match its {PROVENANCE}: {', '.join(bad)} "
                         "missing or changed (git checkout the folder, or rebuild it with "
                         "python -m pipelines demo --ship-teacher --fresh)")
    return provenance


def ships_teacher_stage(recipe: DemoRecipe, folder: str | Path = SHIPPED_TEACHER) -> bool:
    """Whether ``folder`` holds what ``recipe``'s teacher stage makes on the data it was shipped with: known
    before the data stage (for the plan of the progress line); `shipped_for` decides once the data is there."""
    provenance = load_provenance(folder)
    return provenance is not None and provenance["teacher_key"] == recipe.teacher_key(provenance["data"]["dir"],
                                                                                       provenance["threads"])


def shipped_for(recipe: DemoRecipe, data: DemoData, folder: str | Path = SHIPPED_TEACHER) -> Path | None:
    """``folder`` if it holds the teacher that ``recipe``'s teacher stage makes on ``data`` (verified),
    else None."""
    if not ships_teacher_stage(recipe, folder) or load_provenance(folder)["data"]["dir"] != data.root.name:
        return None
    verify(folder)
    return Path(folder)


def fresh_init(folder: str | Path, seed: int = FRESH_SEED):
    """A model of the teacher's config with freshly initialised weights (``torch.manual_seed(seed)``)."""
    import torch

    from models import SpikingMambaConfig, SpikingMambaForCausalLM

    torch.manual_seed(seed)
    return SpikingMambaForCausalLM(SpikingMambaConfig.from_pretrained(str(folder))).eval()


def heldout_perplexities(folder: str | Path, ids, context_len: int, stride: int, batch_size: int = 16) -> dict:
    """Perplexity of the teacher in ``folder`` and of ``fresh_init(folder)`` on the token stream ``ids``
    (``analysis.perplexity``: sliding windows of ``context_len`` every ``stride`` tokens)."""
    from analysis.perplexity import perplexity
    from models import SpikingMambaForCausalLM

    teacher = SpikingMambaForCausalLM.from_pretrained(str(folder)).eval()
    results = {name: perplexity(model, ids, context_len=context_len, stride=stride, batch_size=batch_size,
                                progress=False)
               for name, model in (("teacher", teacher), ("fresh_init", fresh_init(folder)))}
    return {"teacher": results["teacher"].ppl, "fresh_init": results["fresh_init"].ppl,
            "tokens": results["teacher"].tokens, "context_len": context_len, "stride": stride}


def ship_teacher(run_dir: Path, recipe: DemoRecipe, data: DemoData, threads: int, command: str,
                 folder: str | Path = SHIPPED_TEACHER) -> dict:
    """Write the teacher pretrained in ``run_dir`` (its ``final/``, ``config.yaml``, ``metrics.jsonl``) to
    ``folder`` with ``provenance.json`` and the model card; returns the provenance."""
    import torch
    import transformers
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    from pipelines.demo.evaluate import heldout_stream
    from pipelines.demo.files import write_json
    from pipelines.metrics import read_metrics

    folder, run_dir = Path(folder), Path(run_dir)
    staging = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(run_dir / "final", staging)
    for name in RUN_FILES:
        shutil.copy2(run_dir / name, staging / name)
    parameters = sum(t.numel() for t in load_file(staging / "model.safetensors").values())
    _, stream = heldout_stream(data, AutoTokenizer.from_pretrained(str(staging)), recipe.evaluation.ppl_documents)
    ppl = heldout_perplexities(staging, stream, recipe.seq_len, recipe.evaluation.ppl_stride,
                               recipe.evaluation.batch_size)
    curve = [{"step": r["step"], "heldout_loss": r["heldout_loss"]} for r in read_metrics(run_dir) if "heldout_loss" in r]
    provenance = {
        "command": command,
        "teacher_key": recipe.teacher_key(data.root.name, threads),
        "threads": threads,
        "recipe": {"teacher": recipe.teacher, "seq_len": recipe.seq_len},
        "data": {"dir": data.root.name, "corpus_sha256": data.manifest["corpus_sha256"],
                 "source": data.manifest["source"], "train_tokens": data.manifest["tokens"]["train"],
                 "heldout_tokens": data.manifest["tokens"]["heldout"]},
        "parameters": parameters,
        "heldout_ppl": ppl,
        "heldout_curve": curve,
        "made": {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                 "python": platform.python_version(), "torch": torch.__version__,
                 "transformers": transformers.__version__, "machine": platform.machine()},
        "files": {p.name: file_sha256(p) for p in sorted(staging.iterdir()) if p.is_file()},
    }
    write_json(staging / PROVENANCE, provenance)
    (staging / CARD).write_text(model_card(provenance))
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return provenance


def model_card(p: dict) -> str:
    """The folder's README.md, every number from ``provenance.json``."""
    t, n = p["recipe"]["teacher"], p["recipe"]["seq_len"]
    shape, ppl, data = t["tiny_teacher"], p["heldout_ppl"], p["data"]
    tokens = t["max_steps"] * t["global_batch_size"] * n
    curve = ", ".join(f"{c['step']}: {c['heldout_loss']:.3f}" for c in p["heldout_curve"])
    lines = [
        "# The demo's teacher: a pretrained Mamba2 of the King James Bible",
        "",
        f"A dense Mamba2 of {p['parameters']:,} parameters ({shape['n_layer']} layers, d_model {shape['d_model']}, "
        f"d_state {shape['d_state']}, headdim {shape['headdim']}, expand {shape['expand']}; a byte-level BPE of "
        "2,048 tokens), pretrained with next-token cross-entropy on the training split of the demo's corpus. "
        "It is the project's own model, made by the project's own command; `make demo` distils its students "
        "from it, as the paper distils SpikingMamba from a pretrained Mamba2. Format: `SpikingMambaForCausalLM` "
        "with neuron `none` (`models.SpikingMambaForCausalLM.from_pretrained(\"pipelines/demo/teacher\")`).",
        "",
        "## How it was made",
        "",
        f"Command: `{p['command']}` (1 CPU, fp32, {p['threads']} torch thread(s); CPU runs are bitwise "
        "reproducible for a fixed thread count). It runs the demo's data stage and its teacher stage "
        "(`pipelines/demo/training.py`: `python -m pipelines distill` with `objective: ce` from a random "
        "Mamba2) with the default recipe's teacher stage (`pipelines/demo/recipe.py`), then copies the run's "
        "`final/`, `config.yaml` and `metrics.jsonl` here and writes `provenance.json` and this card.",
        "",
        "| | |",
        "|---|---|",
        f"| steps | {t['max_steps']} × {t['global_batch_size']} sequences × {n} tokens ({tokens:,} tokens, "
        f"{tokens / data['train_tokens']:.1f} epochs of the training split) |",
        f"| optimiser | AdamW, lr {t['lr']}, weight decay {t['weight_decay']}, warm-up {t['warmup_ratio']:.0%}, "
        f"cosine to {t['min_lr_ratio']} × lr; embedding trained |",
        f"| data | `{data['dir']}` (the demo's data key): {data['source']}; corpus SHA-256 "
        f"`{data['corpus_sha256']}`; {data['train_tokens']:,} training tokens; held-out chapters never trained on |",
        f"| teacher key | `{p['teacher_key']}` = `DemoRecipe.teacher_key` of the data, the teacher stage, "
        f"seq_len {n} and {p['threads']} thread(s): `make demo` loads this folder when its recipe gives the same key |",
        f"| made | {p['made']['date']}, Python {p['made']['python']}, torch {p['made']['torch']}, "
        f"transformers {p['made']['transformers']}, {p['made']['machine']} |",
        "",
        "The full teacher stage, as the pipeline resolved it, is `config.yaml`; its training and held-out "
        "curve is `metrics.jsonl`.",
        "",
        "## Held-out quality",
        "",
        f"Perplexity on the held-out chapters ({ppl['tokens']:,} tokens scored, windows of "
        f"{ppl['context_len']} tokens every {ppl['stride']}): **{ppl['teacher']:.2f}**, against "
        f"{ppl['fresh_init']:.2f} for a freshly initialised model of the same shape (`torch.manual_seed("
        f"{FRESH_SEED})`). Held-out CE (nats) during pretraining, by step: {curve}.",
        "",
        "## Use and rebuild",
        "",
        "- `make demo` loads it (checking every file against `provenance.json`).",
        "- `make demo ARGS=--pretrain` pretrains a teacher from scratch into `runs/demo/cache/teacher-<key>/` "
        "and uses that instead.",
        f"- `python -m pipelines demo --ship-teacher --fresh` rebuilds this folder (with {p['threads']} thread(s), "
        "on the same software, the same bytes).",
        "- `tests/demo/test_shipped_teacher.py` checks the hashes, the key and that it beats a fresh model.",
        "",
        "## Files (SHA-256)",
        "",
        *(f"- `{name}`: `{sha}`" for name, sha in p["files"].items()),
        "",
        "Licence: the project's (see `LICENSE`); the training text is the King James Version "
        "(public domain except in the UK; `pipelines/demo/DATA.md`).",
    ]
    return "\n".join(lines) + "\n"
