"""Cross-check with SpikingJelly 2.0's ``op_counter`` (MACCounter, ACCounter), an operator-level counter we
did not write, on the tiny teacher and its LIF / I-LIF / TI-LIF students (tests/analysis/conftest.py).

Where the counts agree:
* the dense parts are the same ops on both sides — op_counter counts the same Conv1d and SSM MACs, LM head
  MACs and norm accumulates for the teacher and every student, in integer and spike-driven mode;
* the dense projections and the LM head: tokens · d_in · d_out MACs, Table 10's rows (and the LM head that
  ``--memory`` adds); in one decoded token also C·h_t (H·P·N MACs, a batched mat-vec);
* binary spikes: op_counter counts a linear on a {0,1} tensor as nnz · d_out accumulates — exactly our
  spikes · d_out (Table 11/12, ``SpikeDrivenLinear.ac_count``) for LIF in both modes and for I-LIF
  spike-driven (its micro-step planes are {0,1}).

Where they differ, and why:
* op_counter's spike test is "every element is 0 or 1" (``mac._is_spike``). Integer mode feeds the linear the
  count q ∈ {0..D} (I-LIF) or {−D..D} (TI-LIF): whenever a count is ≥ 2 or negative the whole projection is
  counted as dense MACs. Spike-driven TI-LIF feeds D signed planes ∈ {−1,0,1}: each plane is one dense mm,
  so op_counter counts D · tokens · d_in · d_out MACs — D times the *dense* count — where the spike-driven
  path performs spikes · d_out accumulates (the sign is one XOR, §4.1).
* Conv1d: F.conv1d with padding d_conv − 1 computes tokens + d_conv − 1 outputs and drops the last d_conv − 1;
  op_counter counts them all, Table 10 counts one output per token.
* SSM: a whole sequence runs the chunked SSD algorithm (batched matmuls, quadratic within a chunk), not Table
  10's recurrence; op_counter's bmm count there is not comparable. In decode, dtB (an outer product by
  ``addcmul_``) has no op_counter rule and the conv step (``linalg.vecdot``) shows only its sums as ACs.
"""

import pytest
import torch

from analysis import energy as en
from analysis.firing_rates import measure_firing_rates
from models import SpikingMambaForCausalLM

op_counter = pytest.importorskip("spikingjelly.activation_based.op_counter")

MODES = [("teacher", False), ("lif", False), ("lif", True), ("ilif", False), ("ilif", True), ("tilif", False),
         ("tilif", True)]


def _load(checkpoints, name, spike_driven):
    """A checkpoint in eval mode; students with V_th = 0.05 at out_proj, so that the random model's y spikes."""
    kwargs = {} if name == "teacher" else {"v_threshold_out": 0.05}
    model = SpikingMambaForCausalLM.from_pretrained(checkpoints[name], **kwargs).eval()
    return model.set_spike_driven(True) if spike_driven else model


def _count(model, *args, **kwargs):
    """{scope: {op name: count}} of MACCounter and ACCounter over one forward."""
    mac, ac = op_counter.MACCounter(), op_counter.ACCounter()
    with torch.no_grad(), op_counter.DispatchCounterMode([mac, ac]):
        model(*args, **kwargs)
    return tuple({scope: {str(op).split(".")[1]: n for op, n in ops.items()} for scope, ops in c.get_counts().items()}
                 for c in (mac, ac))


ROOT = "SpikingMambaForCausalLM"


def _mixer(i):
    return f"{ROOT}.backbone.layers.{i}.mixer"


@pytest.fixture(scope="module")
def counts(checkpoints, ids):
    """(model mode) -> (MAC counts, AC counts, firing-rate result) for one 48-token forward."""
    out = {}
    for name, sd in MODES:
        model = _load(checkpoints, name, sd)
        mac, ac = _count(model, ids)
        out[name, sd] = (mac, ac, measure_firing_rates(model, ids) if name != "teacher" else None, model)
    return out


def test_dense_parts_are_counted_the_same_on_both_sides(counts):
    mac_t, ac_t, _, teacher = counts["teacher", False]
    n_layer = teacher.config.n_layer
    norms = [f"{ROOT}.backbone.layers.{i}.norm" for i in range(n_layer)] + [f"{_mixer(i)}.norm" for i in range(n_layer)]
    for mode, (mac, ac, _, _) in counts.items():
        for i in range(n_layer):
            for op in ("convolution", "bmm"):  # Conv1d, and the SSM's chunked scan
                assert mac[_mixer(i)][op] == mac_t[_mixer(i)][op] > 0, (mode, i, op)
        assert mac[f"{ROOT}.lm_head"] == mac_t[f"{ROOT}.lm_head"], mode
        for scope in norms + [f"{ROOT}.backbone.norm_f"]:
            assert ac[scope] == ac_t[scope], (mode, scope)


def test_dense_counts_agree_with_table10(counts, ids):
    mac, _, _, teacher = counts["teacher", False]
    cfg, tokens = teacher.config, ids.numel()
    rows = {r.name: r.count for r in en.table10_rows(cfg.shape)}
    for i in range(cfg.n_layer):
        for proj in ("in_proj", "out_proj"):
            assert mac[f"{_mixer(i)}.{proj}"]["mm"] == tokens * rows[proj]
        # op_counter counts the d_conv - 1 padded outputs F.conv1d computes and the block drops
        assert mac[_mixer(i)]["convolution"] == (tokens + cfg.d_conv - 1) * rows["conv1d"]
    assert mac[f"{ROOT}.lm_head"]["mm"] == tokens * cfg.vocab_size * cfg.d_model


def test_one_decoded_token_agrees_on_projections_and_C_h(checkpoints, ids):
    teacher = SpikingMambaForCausalLM.from_pretrained(checkpoints["teacher"]).eval()
    cfg = teacher.config
    rows = {r.name: r.count for r in en.table10_rows(cfg.shape)}
    with torch.no_grad():
        cache = teacher(ids, use_cache=True).cache_params
    mac, ac = _count(teacher, ids[:, -1:], cache_params=cache, use_cache=True)
    for i in range(cfg.n_layer):
        for proj in ("in_proj", "out_proj"):
            assert mac[f"{_mixer(i)}.{proj}"]["mm"] == rows[proj]
    assert mac["Global"]["bmm"] == cfg.n_layer * rows["C*h_t"]  # the SSM read-out, one mat-vec per group
    assert "convolution" not in mac["Global"]  # the conv step is a vecdot: no MAC rule; dtB (addcmul_) neither
    assert ac["Global"]["sum"] > 0


def test_a_counted_decode_step_runs_the_torch_ops(checkpoints, ids):
    """The compiled kernels (the event projections, the CPU mixer step) do not pass through torch's dispatcher;
    under a counter a student's decoded token runs the torch ops instead, so op_counter sees its projections and
    the SSM read-out — and the logits are those of the compiled path up to float rounding."""
    student = _load(checkpoints, "tilif", False)
    cfg, rows = student.config, {r.name: r.count for r in en.table10_rows(student.config.shape)}
    with torch.no_grad():
        prefill = student(ids[:, :-1], use_cache=True)
        compiled = student(ids[:, -1:], cache_params=prefill.cache_params, use_cache=True).logits
        prefill = student(ids[:, :-1], use_cache=True)
    mac, ac = _count(student, ids[:, -1:], cache_params=prefill.cache_params, use_cache=True)
    for i in range(cfg.n_layer):
        for proj in ("in_proj", "out_proj"):
            scope = f"{_mixer(i)}.{proj}"
            assert "mm" in mac.get(scope, {}) or "mm" in ac.get(scope, {}), scope  # counted as MACs or ACs
    assert mac["Global"]["bmm"] == cfg.n_layer * rows["C*h_t"]
    with torch.no_grad(), op_counter.DispatchCounterMode([op_counter.MACCounter()]):
        counted = student(ids[:, -1:], cache_params=student(ids[:, :-1], use_cache=True).cache_params,
                          use_cache=True).logits
    torch.testing.assert_close(counted, compiled, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name, spike_driven", [("lif", False), ("lif", True), ("ilif", True)])
def test_binary_spikes_agree_with_our_accumulates(counts, name, spike_driven):
    mac, ac, result, model = counts[name, spike_driven]
    n_layer = model.config.n_layer
    ours = {i: sum(e["ac_estimate"] for e in result["layers"][i]["sides"].values()) for i in range(n_layer)}
    assert sum(ours.values()) > 0
    for i in range(n_layer):
        assert ac[_mixer(i)]["mm"] == ours[i]
        assert mac[_mixer(i)]["mm"] == 0


@pytest.mark.parametrize("name, spike_driven", [("ilif", False), ("tilif", False), ("tilif", True)])
def test_multilevel_and_signed_spikes_are_counted_as_macs(counts, ids, name, spike_driven):
    """A projection input that is not a {0,1} tensor — an integer count ≥ 2, or any negative spike — is counted
    as dense MACs, once per plane (D planes spike-driven), where the spike-driven linear performs
    spikes · d_out accumulates (``ac_estimate``; fewer than the dense MACs while T·k·fr < 1)."""
    mac, ac, result, model = counts[name, spike_driven]
    shape, tokens, D = model.config.shape, ids.numel(), model.config.D
    dense = {proj: tokens * d_in * d_out for proj, (d_in, d_out) in shape.projections.items()}
    planes = D if spike_driven else 1
    not_binary = 0
    for layer in result["layers"]:
        i, expected = layer["layer"], {}
        for side, e in layer["sides"].items():
            proj = "in_proj" if side == "in" else "out_proj"
            binary = e["negative"] == 0 and (spike_driven or e["spikes"] == e["active"])
            not_binary += not binary
            expected[proj] = (0, e["ac_estimate"]) if binary else (planes * dense[proj], 0)
        if spike_driven:  # forward_spikes is not a module call: its mm is recorded in the mixer's scope
            assert (mac[_mixer(i)]["mm"], ac[_mixer(i)]["mm"]) == tuple(map(sum, zip(*expected.values())))
        else:
            for proj, want in expected.items():
                assert (mac[f"{_mixer(i)}.{proj}"]["mm"], ac[f"{_mixer(i)}.{proj}"]["mm"]) == want, (i, proj)
    assert not_binary > 0
