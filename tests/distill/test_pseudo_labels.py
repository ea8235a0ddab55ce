"""Pseudo-label distillation (§4.3, Eq 13): prompts of instruction data, the teacher's cached responses
(checked against ``generate`` directly; killed and resumed; split over two processes), and a loss that
only the response positions carry."""
import json
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from distill_helpers import REPO, run_cli, run_in_process, run_preset, subprocess_env
from pipelines.config import load_config
from pipelines.data import DEFAULT_CHAT_TEMPLATE, DataSource
from pipelines.distill import teacher_student, train
from pipelines.distill.config import DistillConfig
from pipelines.distill.label_cache import PseudoLabelCache
from pipelines.distill.prompts import load_prompts
from pipelines.distill.pseudo_labels import build_pseudo_label_dataset, generate_responses
from pipelines.metrics import read_metrics
from pipelines.tiny import build_byte_tokenizer

TINY_SFT = str(REPO / "pipelines/configs/distill_tiny_sft.yaml")
INSTRUCTIONS = REPO / "pipelines/configs/data/tiny_instructions.jsonl"
N_PROMPTS = 36


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def sft_config(teacher, output_dir, *extra) -> DistillConfig:
    return load_config(DistillConfig, TINY_SFT, [f"teacher={teacher}", f"output_dir={output_dir}",
                                                 "tensorboard=false", *extra])


def stage(cfg):
    """The pseudo-label stage alone, as ``setup`` runs it: (training rows, tokenizer)."""
    from accelerate import Accelerator

    tokenizer = teacher_student.load_tokenizer(cfg, cfg.teacher)
    return build_pseudo_label_dataset(cfg, tokenizer, cfg.teacher, Accelerator(cpu=True)), tokenizer


def cached_rows(output_dir) -> list[dict]:
    """Every cached row, in file order over the shards."""
    return [json.loads(line) for path in PseudoLabelCache(Path(output_dir) / "pseudo_labels").shards()
            for line in path.read_text().splitlines()]


def responses(rows) -> dict:
    return {r["index"]: r["response_ids"] for r in rows}


@pytest.fixture(scope="module")
def eos_teacher(teacher_dir, tmp_path_factory):
    """The tiny teacher with the token its greedy responses emit most as EOS, so that generation stops
    early for some prompts (a random teacher never emits <|endoftext|>)."""
    teacher, tokenizer = teacher_student.load_teacher(teacher_dir), build_byte_tokenizer()
    ids = torch.tensor([tokenizer("Q: what is a neuron?\nA:")["input_ids"]])
    out = teacher.generate(ids, max_new_tokens=48, do_sample=False, suppress_tokens=list(range(257, 272)))
    token = Counter(out[0, ids.shape[1]:].tolist()).most_common(1)[0][0]
    path = tmp_path_factory.mktemp("eos_teacher") / "teacher"
    shutil.copytree(teacher_dir, path)
    tokenizer.eos_token = tokenizer.convert_ids_to_tokens(token)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def reference(teacher_dir, tmp_path_factory):
    """One uninterrupted stage over the tiny instructions: (config, training rows, {index: ŷ})."""
    cfg = sft_config(teacher_dir, tmp_path_factory.mktemp("reference"))
    rows, _ = stage(cfg)
    return cfg, rows, responses(cached_rows(cfg.output_dir))


def test_prompts_of_each_layout(tmp_path):
    """messages / ShareGPT conversations / prompt strings -> the leading system+user turns, chat-templated
    with the generation prompt; records without a user turn and over-long prompts are dropped."""
    tok = build_byte_tokenizer()
    files = [
        write_jsonl(tmp_path / "messages.jsonl", [
            {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                          {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Again"}]},
            {"messages": [{"role": "assistant", "content": "no question"}]},
            {"messages": [{"role": "user", "content": "x" * 500}]}]),
        write_jsonl(tmp_path / "sharegpt.jsonl", [
            {"conversations": [{"from": "human", "value": "Name a colour."}, {"from": "gpt", "value": "Red"}]}]),
        write_jsonl(tmp_path / "prompt.jsonl", [{"prompt": "Count to three.", "answer": "1 2 3"}]),
    ]
    prompts, dropped = load_prompts([DataSource(f) for f in files], tok, max_prompt_tokens=100)
    assert dropped == 2 and list(prompts["index"]) == [0, 1, 2]
    assert [tok.decode(ids) for ids in prompts["prompt_ids"]] == [
        "<|system|>\nBe brief.<|endoftext|>\n<|user|>\nHi<|endoftext|>\n<|assistant|>\n",
        "<|user|>\nName a colour.<|endoftext|>\n<|assistant|>\n",
        "<|user|>\nCount to three.<|endoftext|>\n<|assistant|>\n"]
    tok.chat_template = ("{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
                         "{% if add_generation_prompt %}[assistant] {% endif %}")  # the tokenizer's own wins
    prompts, _ = load_prompts([DataSource(files[2])], tok, max_prompt_tokens=100)
    assert tok.decode(prompts[0]["prompt_ids"]) == "[user] Count to three.\n[assistant] "
    with pytest.raises(ValueError, match=r"none of the columns \['question'\] is one of \['messages', "
                                         r"'conversations', 'prompt'\]; name the column .* with field=..."):
        load_prompts([DataSource(write_jsonl(tmp_path / "q.jsonl", [{"question": "?"}]))], tok, 100)


def test_cache_holds_the_teachers_greedy_responses(eos_teacher, tmp_path):
    """Each cached ŷ is what ``generate`` gives for that prompt alone (greedy, max_new_tokens, cut after
    the first EOS), and each training row is prompt ++ ŷ with the loss on ŷ's positions."""
    cfg = sft_config(eos_teacher, tmp_path)
    rows, tok = stage(cfg)
    cached = sorted(cached_rows(tmp_path), key=lambda r: r["index"])
    assert [r["index"] for r in cached] == list(range(N_PROMPTS))
    records = [json.loads(line) for line in INSTRUCTIONS.read_text().splitlines()]
    teacher, eos = teacher_student.load_teacher(eos_teacher), tok.eos_token_id
    for record, row, trained in zip(records, cached, rows):
        turns = [t for t in record["messages"] if t["role"] != "assistant"]
        prompt = tok.apply_chat_template(turns, chat_template=DEFAULT_CHAT_TEMPLATE, add_generation_prompt=True,
                                         return_dict=False)
        out = teacher.generate(torch.tensor([prompt]), max_new_tokens=cfg.max_new_tokens, do_sample=False,
                               eos_token_id=eos, pad_token_id=tok.pad_token_id, suppress_tokens=list(range(257, 272)))
        new = out[0, len(prompt):].tolist()
        expected = new[: new.index(eos) + 1] if eos in new else new
        assert row["response_ids"] == expected and row["finished"] == (eos in new)
        n, m = len(prompt), len(expected)
        assert trained["input_ids"].tolist() == prompt + expected + [tok.pad_token_id] * (cfg.seq_len - n - m)
        assert trained["loss_mask"].tolist() == [0] * (n - 1) + [1] * m + [0] * (cfg.seq_len - n - m + 1)
    lengths = [len(r["response_ids"]) for r in cached]
    assert any(r["finished"] for r in cached) and min(lengths) < cfg.max_new_tokens  # stopped at EOS
    with pytest.raises(ValueError, match=r"generated with other settings \(max_new_tokens differ\)"):
        stage(sft_config(eos_teacher, tmp_path, "max_new_tokens=40"))


def test_sampled_responses_are_seeded(teacher_dir):
    """pseudo_label_sampling=sample: the full distribution, reproducible from the seed, global RNG untouched."""
    teacher, tok = teacher_student.load_teacher(teacher_dir), build_byte_tokenizer()
    prompts = [tok("Hi there")["input_ids"], tok("A longer prompt")["input_ids"]]
    rng = torch.get_rng_state()
    a, b, c = (generate_responses(teacher, tok, prompts, 16, sample=True, seed=s) for s in (7, 7, 8))
    assert a == b and a != c and torch.equal(torch.get_rng_state(), rng)
    assert all(max(ids) < len(tok) for ids, _ in a)  # vocabulary padding is never generated
    assert a != generate_responses(teacher, tok, prompts, 16)  # greedy differs from a sample


def test_killed_stage_resumes_without_duplicates(reference, teacher_dir, tmp_path):
    """SIGKILL mid-generation (plus a torn last line, as a kill inside a write leaves); the next run keeps
    every complete row as written, generates only the missing prompts, and trains."""
    out = tmp_path / "run"
    shard = out / "pseudo_labels" / "shard-0.jsonl"
    command = [sys.executable, "-m", "pipelines", "distill", "--config", TINY_SFT, f"teacher={teacher_dir}",
               f"output_dir={out}", "tensorboard=false", "pseudo_label_batch_size=1"]
    proc = subprocess.Popen(command, cwd=REPO, env=subprocess_env(tmp_path), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not (shard.is_file() and shard.read_text().count("\n") >= 4):
        assert proc.poll() is None and time.monotonic() < deadline, "the stage ended before it could be killed"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    before = shard.read_bytes()
    complete = before[: before.rfind(b"\n") + 1]
    written = complete.count(b"\n")
    assert 4 <= written < N_PROMPTS and not (out / "checkpoints").exists()
    with open(shard, "ab") as f:
        f.write(b'{"index": 99, "response_ids": [60, 124')  # torn

    result = run_in_process(sft_config(teacher_dir, out, "pseudo_label_batch_size=5", "max_steps=2"))
    assert result["steps"] == 2
    after = shard.read_bytes()
    assert after.startswith(complete)  # nothing rewritten ...
    rows = cached_rows(out)
    assert sorted(r["index"] for r in rows) == list(range(N_PROMPTS))  # ... nothing twice, nothing missing
    assert responses(rows) == reference[2]  # and the uninterrupted stage's responses


def test_only_response_positions_carry_loss(reference, teacher_dir):
    """With a recurrent model the prompt shapes every later state, so what is checked is the per-position
    targets: teacher logits at prompt/padding positions, and padding tokens, do not change L; the
    teacher's logits at a response position do; L_hidden is Eq 10 averaged over the response positions."""
    cfg, rows, _ = reference
    batch = rows[[0, 5]]
    ids, mask = torch.as_tensor(batch["input_ids"]), torch.as_tensor(batch["loss_mask"])
    teacher = teacher_student.load_teacher(teacher_dir)
    student = teacher_student.load_student(cfg, teacher_dir, teacher.config.n_layer)

    def perturbed(where):
        noise = 5 * torch.randn(*ids.shape, teacher.config.vocab_size, generator=torch.Generator().manual_seed(0))
        return lambda x: SimpleNamespace(logits=teacher(x).logits + noise * where[..., None])

    base = train.micro_batch_loss(cfg, teacher, student, ids, mask)
    assert base[1] > 0 and base[2] > 0
    outside = train.micro_batch_loss(cfg, perturbed((mask == 0).float()), student, ids, mask)
    assert [v.item() for v in outside] == [v.item() for v in base]
    one = torch.zeros_like(mask, dtype=torch.float)
    one[0, mask[0].nonzero()[3]] = 1.0
    assert train.micro_batch_loss(cfg, perturbed(one), student, ids, mask)[1] != base[1]
    tail = ids.clone()
    last = int(mask[1].nonzero().max()) + 2  # the first padding position after row 1's response
    tail[1, last:] = 65
    assert [v.item() for v in train.micro_batch_loss(cfg, teacher, student, tail, mask)] == [v.item() for v in base]

    captured = []  # (x, y, branch) of every SGC branch in the student's forward
    hooks = [p.module.sgc.register_forward_pre_hook(lambda m, args: captured.append((args[0], args[1], m)))
             for p in student.spiking_projections() if p.module.sgc is not None]
    with torch.no_grad():
        loss_hidden = student(ids, hidden_loss_mask=mask).loss_hidden
    for h in hooks:
        h.remove()
    expected = 0.0
    for x, y, branch in captured:  # Eq 10-11 per position, averaged over the response positions only
        y_prime = F.linear(branch.D * torch.tanh(x / branch.v_threshold), branch.weight) * branch.v_threshold
        per_token = 0.5 * (y.float().softmax(-1) - y_prime.float().softmax(-1)).pow(2).sum(-1)
        expected += (per_token * mask).sum() / mask.sum()
    assert len(captured) == 6 and loss_hidden.item() == pytest.approx(expected.item(), rel=1e-5)


def test_tiny_sft_preset(tmp_path):
    """The shipped preset end to end, offline, in well under a minute: the loss falls, final/ loads."""
    from models import SpikingMambaForCausalLM

    out = tmp_path / "tiny_sft"
    cfg, seconds = run_preset(TINY_SFT, out)
    records = read_metrics(out)
    loss = [r["loss"] for r in records]
    print(f"tiny SFT preset: {seconds:.1f} s; loss {loss[0]:.5f} -> {loss[-1]:.5f}")
    assert [r["step"] for r in records] == list(range(1, cfg.max_steps + 1)) and seconds < 60
    assert all(r["loss"] == pytest.approx(r["loss_kl"] + r["loss_hidden"], rel=1e-5) for r in records)
    assert sum(loss[-4:]) < 0.75 * sum(loss[:4])
    assert len(cached_rows(out)) == N_PROMPTS
    model = SpikingMambaForCausalLM.from_pretrained(str(out / "final"))
    assert model.config.neuron_in == "tilif" and model.config.sgc_layers == []


def test_two_processes_share_the_prompts(reference, teacher_dir, tmp_path):
    """Under ``accelerate launch`` (2 CPU processes, gloo) each process generates its own shard: disjoint,
    together every prompt once, the same responses as one process."""
    from test_resume_and_ddp import free_port

    out = tmp_path / "ddp"
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                "--main_process_port", str(free_port())]
    run_cli(["-m", "pipelines", "distill", "--config", TINY_SFT, f"teacher={teacher_dir}", f"output_dir={out}",
             "tensorboard=false", "max_steps=1"], subprocess_env(tmp_path), launcher)
    shards = PseudoLabelCache(out / "pseudo_labels").shards()
    indices = [[json.loads(line)["index"] for line in p.read_text().splitlines()] for p in shards]
    assert [p.name for p in shards] == ["shard-0.jsonl", "shard-1.jsonl"] and all(indices)
    assert sorted(indices[0] + indices[1]) == list(range(N_PROMPTS))
    assert responses(cached_rows(out)) == reference[2]
