"""The demo's derived datasets: a zero-shot lm-eval task and a TRL preference set.

*Verse-ending task* (held-out split; Table 2's zero-shot accuracy in miniature, HellaSwag-style):
given three verses and the first half of the next, choose its true second half among four (three
length-matched endings from other held-out chapters). Written as an lm-eval ``multiple_choice``
task: ``TASK_NAME.jsonl`` (``context``, ``choices``, ``label``, ``source``) and ``TASK_NAME.yaml``
pointing at it by absolute path; run it with ``lm_eval --include_path DIR --tasks TASK_NAME``.
lm-eval scores ``context + " " + choice``. Metrics: ``acc`` (highest log p(choice | context)),
``acc_norm`` (per byte) and ``acc_mutual_info`` (highest log p(choice | context) − log p(choice),
the unconditional term computed by lm-eval from an empty context): the calibrated score of
GPT-3's zero-shot evaluation and of Holtzman et al. 2021 (PMI_DC), which removes how probable an
ending is on its own — for models this small that prior otherwise drowns the effect of the context.

*Preference set* (training split; Eq 14–15): the prompt is a context, the chosen completion its true
ending, the rejected one a length-matched ending from another chapter. TRL's standard formats:
``dpo.jsonl`` rows ``{prompt, chosen, rejected}``; ``kto.jsonl`` rows ``{prompt, completion, label}``,
one ``True`` and one ``False`` row per pair (balanced, as KTO's default weights expect). Completions
start with a space so that ``prompt + completion`` is the running text.
"""
from __future__ import annotations

import random
from pathlib import Path

import yaml

from pipelines.demo.continuations import Continuation
from pipelines.atomic import atomic_write_text
from pipelines.demo.files import write_jsonl

TASK_NAME = "spikingmamba_demo_verse_ending"
METRICS = ("acc", "acc_norm", "acc_mutual_info")


def mc_rows(examples: list[Continuation], seed: int = 0) -> list[dict]:
    """lm-eval documents: the true verse at a uniformly random (seeded) position among the choices."""
    rng = random.Random(seed)
    rows = []
    for ex in examples:
        label = rng.randrange(len(ex.distractors) + 1)
        choices = list(ex.distractors)
        choices.insert(label, ex.target)
        rows.append({"source": ex.source, "context": ex.context, "choices": choices, "label": label})
    return rows


def write_mc_task(examples: list[Continuation], directory: str | Path, seed: int = 0) -> Path:
    """Write ``TASK_NAME.jsonl`` and ``TASK_NAME.yaml`` under ``directory``; returns the YAML path."""
    directory = Path(directory).resolve()
    data = write_jsonl(directory / f"{TASK_NAME}.jsonl", mc_rows(examples, seed))
    config = {
        "task": TASK_NAME,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data)}},
        "output_type": "multiple_choice",
        "test_split": "test",
        "doc_to_text": "{{context}}",
        "doc_to_choice": "choices",
        "doc_to_target": "label",
        "metric_list": [{"metric": m, "aggregation": "mean", "higher_is_better": True}
                        for m in METRICS],
        "metadata": {"version": 1.0},
    }
    path = directory / f"{TASK_NAME}.yaml"
    atomic_write_text(path, yaml.safe_dump(config, sort_keys=False))
    return path


def write_preference_sets(examples: list[Continuation], directory: str | Path) -> dict[str, Path]:
    """``dpo.jsonl`` and ``kto.jsonl`` under ``directory`` (first distractor is the rejected one)."""
    directory = Path(directory)
    dpo = [{"prompt": ex.context, "chosen": " " + ex.target, "rejected": " " + ex.distractors[0]}
           for ex in examples]
    kto = [row for ex in dpo for row in (
        {"prompt": ex["prompt"], "completion": ex["chosen"], "label": True},
        {"prompt": ex["prompt"], "completion": ex["rejected"], "label": False})]
    return {"dpo": write_jsonl(directory / "dpo.jsonl", dpo),
            "kto": write_jsonl(directory / "kto.jsonl", kto)}
