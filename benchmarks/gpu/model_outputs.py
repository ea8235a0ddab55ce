"""``python -m benchmarks.gpu.kernel_switch MODE benchmarks.gpu.model_outputs WORK MODE``: what check "model"
compares — run once with every kernel on (MODE triton) and once on the plain-PyTorch path (MODE
torch, neurons on backend "torch" too), both on the GPU.

For each checkpoint format in WORK/teachers/ (mamba_ssm, transformers), each model (the teacher,
neuron "none"; the TI-LIF D = 4 student with SGC on its default blocks) and each precision (float32;
bf16 autocast): a training forward and backward (CE + L_hidden) of WORK/ids.pt — logits, the first
block's output (hidden_states[1]) and every parameter's gradient — then greedy generation of 16
tokens from the first 24 ids in eval mode (prefill + recurrent decode): tokens and the scores of
every step. Saved to WORK/outputs_MODE.pt, on the CPU in float32.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from models import SpikingMambaForCausalLM

FORMATS = ("mamba_ssm", "transformers")
MODELS = {"teacher": dict(neuron="none"), "tilif": dict(neuron="tilif", D=4)}
PRECISIONS = ("float32", "bf16")
PROMPT, NEW_TOKENS = 24, 16


def one_model(directory: Path, kwargs: dict, precision: str, ids: torch.Tensor) -> dict:
    torch.manual_seed(0)  # the same SGC initialisation in both processes
    model = SpikingMambaForCausalLM.from_pretrained(directory, **kwargs).cuda().train()
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16"):
        out = model(ids, labels=ids, output_hidden_states=True)
        (out.loss + out.loss_hidden).backward()
    result = {"logits": out.logits.detach().float().cpu(), "block0": out.hidden_states[1].detach().float().cpu(),
              "grads": {n: p.grad.float().cpu() for n, p in model.named_parameters() if p.grad is not None}}
    model.eval()
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16"):
        generated = model.generate(ids[:1, :PROMPT], max_new_tokens=NEW_TOKENS, do_sample=False,
                                   output_scores=True, return_dict_in_generate=True)
    result["tokens"] = generated.sequences[0, PROMPT:].cpu()
    result["scores"] = torch.stack(generated.scores).float().cpu()
    return result


def main(work: Path, mode: str) -> None:
    ids = torch.load(work / "ids.pt").cuda()
    outputs = {}
    for fmt in FORMATS:
        for name, kwargs in MODELS.items():
            for precision in PRECISIONS:
                outputs[f"{fmt}/{name}/{precision}"] = one_model(work / "teachers" / fmt, kwargs, precision, ids)
    torch.save(outputs, work / f"outputs_{mode}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
