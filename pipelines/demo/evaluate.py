"""Stage: evaluate one demo model — held-out perplexity, the verse-ending task through lm-eval, firing
rates, and E_A/E_S from the energy model at the demo's shape.

Perplexity and accuracy come from ``pipelines.eval.evaluate_model`` (the ``spikingmamba`` lm-eval
model; the sliding-window perplexity of ``pipelines/eval/perplexity.py``) on ``heldout.txt``: the
held-out chapters joined by ``<|endoftext|>``, i.e. the token stream the models were trained on.
Accuracy ``acc`` is lm-eval's ``acc_mutual_info`` (the calibrated score, see ``tasks.py``); lm-eval's
plain ``acc`` and ``acc_norm`` are kept as ``acc_raw`` and ``acc_norm``.
Firing rates are Table 12's (``analysis.firing_rates.measure_firing_rates``, averaged over layers)
on the first ``analysis_sequences`` held-out sequences; the energy ratio is Appendix D's
(``analysis.energy.energy_report``) with those rates. The teacher has no neurons: fr None, ratio 1.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from pipelines.atomic import atomic_write_text
from pipelines.demo.prepare import DemoData
from pipelines.demo.recipe import DemoRecipe
from pipelines.demo.tasks import METRICS



def heldout_stream(data: DemoData, tokenizer, n_docs: int | None = None) -> tuple[Path, torch.Tensor]:
    """The held-out chapters (the first ``n_docs``, or all) as one text beside the data (written once),
    each followed by EOS as in training, and its token ids ``[N]``."""
    path = data.root / ("heldout.txt" if n_docs is None else f"heldout_first{n_docs}.txt")
    if not path.is_file():
        docs = [json.loads(line)["text"] for line in data.heldout.read_text().splitlines()][:n_docs]
        atomic_write_text(path, tokenizer.eos_token.join(docs) + tokenizer.eos_token)
    return path, torch.tensor(tokenizer(path.read_text())["input_ids"], dtype=torch.long)


def analysis_batch(stream: torch.Tensor, n_sequences: int, seq_len: int) -> torch.Tensor:
    """The first ``n_sequences`` consecutive windows of ``seq_len`` tokens: ``[n, seq_len]``."""
    n = min(n_sequences, stream.numel() // seq_len)
    if n < 1:
        raise ValueError(f"the held-out stream has {stream.numel()} tokens, fewer than seq_len={seq_len}")
    return stream[: n * seq_len].view(n, seq_len)


def spiking_measures(model, batch: torch.Tensor) -> dict:
    """fr_in, fr_out (Table 12, mean over layers) and E_A/E_S (Appendix D) of a loaded model."""
    from analysis.energy import Mamba2Shape, energy_report
    from analysis.firing_rates import measure_firing_rates

    cfg = model.config
    shape = Mamba2Shape.from_config(cfg.to_dict())
    if not cfg.is_spiking:
        return {"fr_in": None, "fr_out": None, "energy_ratio": 1.0,
                "energy": energy_report(shape)}
    rates = measure_firing_rates(model, batch)
    report = energy_report(shape, cfg.neuron_in, cfg.neuron_out, D=cfg.D, T=cfg.T,
                           fr_in=rates["fr_in_per_layer"], fr_out=rates["fr_out_per_layer"])
    return {"fr_in": rates["fr_in"], "fr_out": rates["fr_out"], "energy_ratio": report["ratio"],
            "energy": report, "firing_rates": rates}


def evaluate(path: str | Path, label: str, data: DemoData, recipe: DemoRecipe, manager, tokenizer,
             out_dir: str | Path) -> dict:
    """Every number of one model's table row (plus details) -> dict (see the module docstring)."""
    from models import SpikingMambaForCausalLM
    from pipelines.eval import evaluate_model

    ev, seq_len = recipe.evaluation, recipe.seq_len
    text_path, stream = heldout_stream(data, tokenizer, ev.ppl_documents)
    row = evaluate_model(str(path), label=label, tasks=[f"{data.task_name}:{m}" for m in METRICS],
                         ppl=[str(text_path)], manager=manager, batch_size=ev.batch_size, limit=ev.mc_limit,
                         context_len=seq_len, stride=ev.ppl_stride, out_dir=out_dir)
    model = SpikingMambaForCausalLM.from_pretrained(str(path)).eval()
    measures = spiking_measures(model, analysis_batch(stream, ev.analysis_sequences, seq_len))
    acc = {m: row.zero_shot[f"{data.task_name}:{m}"] for m in METRICS}
    return {"ppl": row.perplexity[text_path.stem], "acc": acc["acc_mutual_info"], "acc_raw": acc["acc"],
            "acc_norm": acc["acc_norm"],
            **measures,
            "path": str(path), "mc_questions": row.info["n_samples"][data.task_name],
            "ppl_details": row.info["perplexity"][text_path.stem], "eval_seconds": row.info["seconds"]}
