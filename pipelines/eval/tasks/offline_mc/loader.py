"""Loads ``offline_mc.jsonl`` (next to this file) for the ``offline_mc`` lm-eval task."""
from pathlib import Path

DOCS = Path(__file__).with_name("offline_mc.jsonl")


def load_offline_mc(**_metadata):
    """lm-eval ``custom_dataset`` hook -> ``DatasetDict({"test": ...})``.

    lm-eval passes the run's metadata (model_args, ...) as keyword arguments; none is needed here.
    """
    import datasets

    return datasets.load_dataset("json", data_files={"test": str(DOCS)})
