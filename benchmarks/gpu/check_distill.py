"""Checks "distill_fsdp" and "distill_zero3": two distillation steps of the tiny preset
(pipelines/configs/distill_tiny.yaml on the GPU: bf16, TI-LIF student with SGC, its random tiny
teacher) through ``accelerate launch`` with the shipped FSDP or DeepSpeed ZeRO-3 config on one
process, then the run's export (OUTPUT_DIR/final) loads with ``SpikingMambaForCausalLM.from_pretrained``
and generates. The launched process runs under the same kernel switch as this one.

ZeRO-3 is skipped, with its reason, where deepspeed does not import.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys

from benchmarks.gpu.report import run_check, status
from benchmarks.gpu.site import REPO

CONFIGS = {"fsdp": "pipelines/accelerate/fsdp.yaml", "zero3": "pipelines/accelerate/deepspeed_zero3.yaml"}
PORTS = {"fsdp": 29511, "zero3": 29512}  # both may run at once
STEPS = 2


def launch(engine: str, output_dir) -> None:
    overrides = [f"output_dir={output_dir}", "cpu=false", "mixed_precision=bf16", f"max_steps={STEPS}",
                 f"save_every={STEPS}", "log_every=1", "tensorboard=false"]
    switch = os.environ.get("SPIKINGMAMBA_KERNEL_SWITCH", "triton")
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", CONFIGS[engine],
               "--num_processes", "1", "--main_process_port", str(PORTS[engine]),
               "-m", "benchmarks.gpu.kernel_switch", switch,
               "pipelines", "distill", "--config", "pipelines/configs/distill_tiny.yaml", *overrides]
    print(" ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=REPO)


def export_generates(final) -> dict:
    from transformers import AutoTokenizer

    from models import SpikingMambaForCausalLM

    model = SpikingMambaForCausalLM.from_pretrained(final).cuda().eval()
    tokenizer = AutoTokenizer.from_pretrained(final)
    prompt = tokenizer("In the beginning", return_tensors="pt").input_ids.cuda()
    out = model.generate(prompt, max_new_tokens=12, do_sample=False)
    return {"neuron": [model.config.neuron_in, model.config.neuron_out], "sgc_layers": model.config.sgc_layers,
            "new_tokens": out.shape[1] - prompt.shape[1], "text": tokenizer.decode(out[0]),
            "spike_driven_new_tokens": model.set_spike_driven(True).generate(
                prompt, max_new_tokens=4, do_sample=False).shape[1] - prompt.shape[1]}


def check(work, engine: str) -> dict:
    if engine == "zero3" and importlib.util.find_spec("deepspeed") is None:
        return {"status": "skipped", "reason": "deepspeed is not installed (no wheel carried)"}
    output_dir = work / f"run_{engine}"
    launch(engine, output_dir)
    metrics = [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [m["loss"] for m in metrics if "loss" in m]
    export = export_generates(output_dir / "final")
    ok = (len(losses) == STEPS and all(math.isfinite(x) for x in losses) and export["new_tokens"] == 12
          and export["spike_driven_new_tokens"] == 4)
    return {"status": status(ok), "engine": engine, "losses": losses, "export": export}


if __name__ == "__main__":
    run_check(check, choices={"engine": tuple(CONFIGS)})
