"""The event-driven path inside the model (issue 18): same results as the dense path up to summation order,
the same greedy tokens, the same accumulate counts, and dense wherever it cannot apply."""
import pytest
import torch

from models import SpikingMambaForCausalLM
from neurons.functional import quantize


@pytest.fixture(scope="module")
def student(teacher_dir):
    return SpikingMambaForCausalLM.from_pretrained(teacher_dir, neuron_in="tilif", neuron_out="ilif", D=3,
                                                   v_threshold_in=0.7).eval()


def calls(model, path):
    """Count the calls that took the event path (event_spike_project) while ``path`` is set."""
    import models.projection as projection

    seen = []
    original = projection.event_spike_project

    def spy(*args, **kwargs):
        seen.append(1)
        return original(*args, **kwargs)

    projection.event_spike_project = spy
    model.set_projection_path(path)
    return seen, lambda: setattr(projection, "event_spike_project", original)


@pytest.mark.parametrize("spike_driven", [False, True])
def test_event_equals_dense_up_to_summation_order(student, ids, spike_driven):
    student.set_spike_driven(spike_driven)
    try:
        with torch.no_grad():
            dense = student.set_projection_path("dense")(ids[:, :7]).logits     # 2 x 7 = 14 rows per call
            event = student.set_projection_path("event")(ids[:, :7]).logits
    finally:
        student.set_spike_driven(False).set_projection_path("auto")
    assert (event - dense).abs().max() <= 1e-5 * dense.abs().max()


def test_greedy_tokens_are_identical_on_every_path(student, ids):
    prompt = ids[:1, :5]
    with torch.no_grad():
        tokens = {p: student.set_projection_path(p).generate(prompt, max_new_tokens=24, do_sample=False)
                  for p in ("dense", "event", "auto")}
    student.set_projection_path("auto")
    assert torch.equal(tokens["dense"], tokens["event"]) and torch.equal(tokens["dense"], tokens["auto"])


def test_spike_driven_accumulates_are_the_same_count_on_both_paths(student, ids):
    """ac_count = Σ|q|·out_features whether forward_spikes (dense planes) or the event kernel ran."""
    counts = {}
    student.set_spike_driven(True)
    try:
        for path in ("dense", "event"):
            student.set_projection_path(path)
            for site in student.spiking_projections():
                site.module.reset_ac_count()
            with torch.no_grad():
                student(ids[:, :4])
            counts[path] = [site.module.ac_count for site in student.spiking_projections()]
    finally:
        student.set_spike_driven(False).set_projection_path("auto")
    assert counts["dense"] == counts["event"] and all(c > 0 for c in counts["dense"])


def test_event_path_only_where_it_applies(student, ids):
    seen, restore = calls(student, "event")
    try:
        with torch.no_grad():
            student(ids[:, :3])
        assert len(seen) == 2 * student.config.n_layer            # every spiking projection
        student(ids[:, :3])                                         # autograd on: dense
        student.train()
        with torch.no_grad():
            student(ids[:, :3])                                     # training: dense
        student.eval()
        neuron = student.backbone.layers[0].mixer.in_proj.neuron
        handle = neuron.register_forward_hook(lambda *a: None)      # an observer (monitor, probe): module path
        with torch.no_grad():
            student(ids[:, :3])
        handle.remove()
        assert len(seen) == 2 * 2 * student.config.n_layer - 1
    finally:
        restore()
        student.set_projection_path("auto")


def test_auto_follows_the_measured_crossover_on_this_call_alone(student):
    """auto: event for one row with few active inputs, dense when (nearly) all are active; the same
    input always takes the same path, whatever ran before."""
    proj = student.backbone.layers[1].mixer.out_proj                 # I-LIF, V_th 1: fires where x ≥ ½
    seen, restore = calls(student, "auto")
    try:
        sparse = torch.zeros(1, proj.in_features)
        sparse[0, :3] = 2.0
        dense = torch.ones(1, proj.in_features)
        assert proj.active_share(sparse) == 3 / proj.in_features and proj.active_share(dense) == 1.0
        with torch.no_grad():
            for x, took_event in ((sparse, True), (dense, False), (sparse, True), (dense, False)):
                before = len(seen)
                proj(x)
                assert (len(seen) > before) == took_event
    finally:
        restore()


def test_path_is_a_config_field_and_validated(teacher_dir, tmp_path):
    m = SpikingMambaForCausalLM.from_pretrained(teacher_dir, neuron="tilif", projection_path="dense")
    assert {s.module.path for s in m.spiking_projections()} == {"dense"}
    m.save_pretrained(tmp_path / "s")
    assert SpikingMambaForCausalLM.from_pretrained(tmp_path / "s").config.projection_path == "dense"
    with pytest.raises(ValueError, match="unknown projection path 'sparse'"):
        m.set_projection_path("sparse")
    with pytest.raises(ValueError, match="unknown projection_path='sparse'"):
        SpikingMambaForCausalLM.from_pretrained(teacher_dir, neuron="tilif", projection_path="sparse")


@pytest.mark.parametrize("dtype, bound", [(torch.bfloat16, 2**-6), (torch.float16, 2**-8)])
def test_half_precision_event_path_within_its_documented_bound(teacher_dir, ids, dtype, bound):
    """bf16 / fp16 weights take neurons.event's torch forms (≤ 4 roundings of the dtype per output)."""
    m = SpikingMambaForCausalLM.from_pretrained(teacher_dir, neuron="tilif", dtype=dtype).eval()
    proj = m.backbone.layers[0].mixer.out_proj
    x = torch.randn(3, proj.in_features, generator=torch.Generator().manual_seed(0)).to(dtype)
    with torch.no_grad():
        proj.path = "dense"
        dense = proj(x).float()
        proj.path = "event"
        event = proj(x).float()
    q = quantize(x.float(), "tilif", 4)
    magnitude = q.abs() @ proj.weight.float().abs().t() + (0 if proj.bias is None else proj.bias.float().abs())
    assert ((event - dense).abs() <= bound * magnitude + 1e-6).all()
