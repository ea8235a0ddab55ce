"""--preset paper: every printed command parses with the real CLIs and configs it names."""
import pytest

from pipelines.config import load_config
from pipelines.demo import paper
from pipelines.demo.cli import main as demo_main
from pipelines.distill.config import DistillConfig
from pipelines.rl.config import RLConfig


def split(argv):
    """accelerate launch ... -m pipelines CMD --config FILE overrides  ->  (CMD, FILE, overrides)."""
    i = argv.index("pipelines")
    assert argv[i + 2] == "--config"
    return argv[i + 1], argv[i + 3], argv[i + 4:]


@pytest.mark.parametrize("size", ["130m", "1.3b"])
def test_training_commands_load_as_configs(size):
    steps = paper.paper_steps(size)
    launched = [s.argv for s in steps if s.argv[0] == "accelerate"]
    assert len(launched) == 8
    students, policies = {}, []
    for argv in launched:
        command, config, overrides = split(argv)
        cfg = load_config(DistillConfig if command == "distill" else RLConfig, config, overrides)
        assert cfg.output_dir.startswith(f"runs/paper-{size}/")
        if command == "distill":
            assert cfg.teacher == f"state-spaces/mamba2-{size}"
            students[cfg.output_dir.rsplit("/", 1)[1]] = (cfg.neuron, cfg.D, cfg.sgc_layers)
        else:  # the paper's plain DPO / KTO, of the full model and of the dense teacher (Table 2)
            assert not cfg.sgc and cfg.sgc_init is None
            policies.append((cfg.policy, cfg.loss, cfg.output_dir.rsplit("/", 1)[1]))
    assert students == {"lif": ("lif", 1, []), "ilif": ("ilif", 4, []), "tilif": ("tilif", 4, []),
                        "tilif_sgc": ("tilif", 4, None)}
    assert policies == [(f"runs/paper-{size}/tilif_sgc/final", "dpo", "tilif_sgc_dpo"),
                        (f"runs/paper-{size}/tilif_sgc/final", "kto", "tilif_sgc_kto"),
                        (f"state-spaces/mamba2-{size}", "dpo", "teacher_dpo"),
                        (f"state-spaces/mamba2-{size}", "kto", "teacher_kto")]


def test_eval_and_analysis_commands_parse(monkeypatch):
    import analysis.__main__ as analysis_cli
    from pipelines.eval.cli import build_parser

    seen = []
    monkeypatch.setattr(analysis_cli, "_run_energy", lambda args: seen.append(("energy", args.model)) or 0)
    monkeypatch.setattr(analysis_cli, "_run_histograms", lambda args: seen.append(("hist", args.model)) or 0)
    for step in paper.paper_steps("130m"):
        argv = step.argv
        if argv[1:4] == ["-m", "pipelines", "eval"]:
            args = build_parser().parse_args(argv[4:])
            assert args.tasks == ["paper"] and args.ppl == ["wikitext2", "c4", "ptb"] and len(args.student) == 4
            assert [a.rsplit(":", 1)[1] for a in args.aligned] == ["tilif_sgc", "tilif_sgc", "teacher", "teacher"]
        elif argv[1:3] == ["-m", "analysis"]:
            assert analysis_cli.main(argv[3:]) == 0
    assert len([s for s in seen if s[0] == "energy"]) == 6 and seen[-1][0] == "hist" and len(seen[-1][1]) == 5


def test_render_is_one_shell_line():
    rl = [s for s in paper.paper_steps("1.3b") if "rl" in s.argv]
    line = paper.render(rl[0])
    assert line.startswith("accelerate launch") and "loss=dpo" in line and "sgc_init" not in line


def test_print_and_run_without_gpu(capsys):
    assert demo_main(["--preset", "paper", "--paper-size", "130m"]) == 0
    printed = capsys.readouterr().out
    steps = paper.paper_steps("130m")
    assert [line for line in printed.splitlines() if line[:2] == "# " and line[2].isdigit()] == \
        [f"# {i}. {s.title}" for i, s in enumerate(steps, 1)]
    assert "state-spaces/mamba2-130m" in printed
    import torch
    if not torch.cuda.is_available():
        assert demo_main(["--preset", "paper", "--run"]) == 2
        assert "needs CUDA" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [(["--run"], "--run applies to --preset paper"),
                                          (["--quick", "--preset", "paper"], "conflicts"),
                                          (["--threads", "0"], "--threads and --jobs must be >= 1")])
def test_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit):
        demo_main(argv)
    assert message in capsys.readouterr().err
