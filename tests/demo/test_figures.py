"""The demo's loss-curve figure: the alignment panel compares the preference loss (Eq 14–15) of every run,
not a total that adds λ·L_hidden for the run that keeps its SGC branch."""
import json

from pipelines.demo import figures


def write_metrics(path, records):
    path.mkdir(parents=True)
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_alignment_panel_draws_the_preference_loss(tmp_path, monkeypatch):
    drawn = {}

    def capture(fig, png_path, numbers):
        drawn.update({ax.get_title(): {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}
                      for ax in fig.axes})
        drawn["ylabel"] = fig.axes[-1].get_ylabel()
        figures.plt.close(fig)

    monkeypatch.setattr(figures, "save_figure", capture)
    snn = write_metrics(tmp_path / "snn", [{"step": 5, "loss": 0.75, "loss_dpo": 0.69, "loss_hidden": 0.06},
                                           {"step": 10, "loss": 0.70, "loss_dpo": 0.64, "loss_hidden": 0.06}])
    dense = write_metrics(tmp_path / "dense", [{"step": 5, "loss": 0.69, "loss_dpo": 0.69}])
    student = write_metrics(tmp_path / "student", [{"step": 5, "loss": 0.5, "loss_kl": 0.4, "loss_hidden": 0.1}])
    figures.plot_loss_curves({"students": {"tilif_sgc": student},
                              "alignment": {"tilif_sgc_dpo": snn, "teacher_dpo": dense}}, tmp_path / "x.png")
    assert drawn["alignment"] == {"tilif_sgc_dpo": [0.69, 0.64], "teacher_dpo": [0.69]}
    assert drawn["students"] == {"tilif_sgc": [0.5]}          # the students' L = L_KL + L_hidden (Eq 12)
    assert drawn["ylabel"] == "L_DPO / L_KTO (Eq 14-15)"
