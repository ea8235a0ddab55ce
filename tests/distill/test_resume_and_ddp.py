"""A run killed (SIGKILL, twice) and resumed ends bitwise equal to an uninterrupted one; a 2-process
DDP run (gloo, CPU) equals the 1-process run with the same global batch."""
import json
import signal
import socket
import subprocess
import sys

import pytest

from pipelines.metrics import read_metrics

from distill_helpers import REPO, cli_command, max_abs_diff, run_cli, run_in_process, small_config, subprocess_env

KILL_DURING_SAVE = REPO / "tests/distill/kill_during_save.py"
LAST = "checkpoints/step-00000012/model.safetensors"
FINAL = "final/model.safetensors"


@pytest.fixture(scope="module")
def reference(teacher_dir, tmp_path_factory):
    """The uninterrupted 12-step run, in-process."""
    out = tmp_path_factory.mktemp("reference")
    run_in_process(small_config(teacher_dir, out))
    return out


def losses(output_dir):
    return [(r["step"], r["loss"], r["loss_kl"], r["loss_hidden"], r["learning_rate"]) for r in read_metrics(output_dir)]


def test_killed_and_resumed_run_equals_uninterrupted(reference, teacher_dir, tmp_path):
    out, env = tmp_path / "run", subprocess_env(tmp_path)
    # 1. SIGKILL in the middle of writing checkpoint 8 (after its files, before the rename).
    first = subprocess.run([sys.executable, str(KILL_DURING_SAVE), "8", *cli_command(teacher_dir, out)], cwd=REPO,
                           capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    checkpoints = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert checkpoints == [".step-00000008.tmp", "step-00000004"]  # the half-written save is not a checkpoint
    # 2. Resume from step 4; SIGKILL from outside as soon as it announces the resumption (8 steps
    #    remain, so the kill lands mid-run wherever the scheduler lets it).
    second = subprocess.Popen([sys.executable, *cli_command(teacher_dir, out, "resume=true")], cwd=REPO,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in second.stdout:
        if "resuming at step 4" in line:
            second.kill()
            break
    assert second.wait(timeout=300) == -signal.SIGKILL
    assert not (out / "final").exists()
    # 3. Resume again (in-process, to spare a third interpreter start-up) and finish.
    assert run_in_process(small_config(teacher_dir, out, "resume=true"))["start_step"] in (4, 8)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000008", "step-00000012"]
    for name in (FINAL, LAST, "checkpoints/step-00000012/optimizer.bin"):
        if name.endswith(".safetensors"):
            assert max_abs_diff(reference / name, out / name) == 0.0, name  # bitwise
        else:
            assert (reference / name).read_bytes() == (out / name).read_bytes()
    assert losses(out) == losses(reference)  # one trajectory in metrics.jsonl, identical numbers
    state = json.loads((out / "checkpoints/step-00000012/trainer_state.json").read_text())
    assert state["global_step"] == 12 and state["tokens_seen"] == 12 * 4 * 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one_process(reference, teacher_dir, tmp_path):
    out = tmp_path / "ddp"
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                "--main_process_port", str(free_port())]
    proc = run_cli(cli_command(teacher_dir, out), subprocess_env(tmp_path), launcher)
    assert "2 process(es) x 1 accumulation x 2" in proc.stdout  # same global batch of 4, split over 2 ranks
    delta_final, delta_last = max_abs_diff(reference / FINAL, out / FINAL), max_abs_diff(reference / LAST, out / LAST)
    print(f"2-process vs 1-process max |delta|: final {delta_final:.3g}, with SGC {delta_last:.3g}")
    assert delta_final <= 1e-6 and delta_last <= 1e-6
    for ours, theirs in zip(losses(out), losses(reference)):
        assert ours[0] == theirs[0] and all(abs(a - b) <= 1e-6 * max(1.0, abs(b)) for a, b in zip(ours, theirs))
