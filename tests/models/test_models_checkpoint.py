"""Checkpoint I/O: round trips, Auto classes, format details, and clear errors."""

import json
import os
import shutil

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForCausalLM

from models import SpikingMambaConfig, SpikingMambaForCausalLM
from models.tiny import save_tiny_mamba2
from models.sgc import is_sgc_key


def copy_dir(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_save_load_round_trip_is_exact(teacher_dir, tmp_path, ids):
    m = SpikingMambaForCausalLM.from_pretrained(teacher_dir, neuron="tilif", D=3, v_threshold_out=0.5)
    with torch.no_grad():
        for p in m.parameters():  # make the student differ from its teacher
            p.add_(0.01 * torch.randn_like(p))
    m.save_pretrained(tmp_path / "student")
    files = set(os.listdir(tmp_path / "student"))
    assert {"config.json", "model.safetensors"} <= files and not any(f.startswith(".tmp") for f in files)
    stored = load_file(tmp_path / "student" / "model.safetensors")
    assert not any(is_sgc_key(k) for k in stored)  # inference checkpoint: no SGC weights
    back = SpikingMambaForCausalLM.from_pretrained(tmp_path / "student")
    assert (back.config.neuron_in, back.config.D, back.config.v_threshold_out, back.config.sgc_layers) == \
        ("tilif", 3, 0.5, [])
    mine = {k: v for k, v in m.state_dict().items() if not is_sgc_key(k)}
    assert mine.keys() == back.state_dict().keys()
    assert all(torch.equal(v, back.state_dict()[k]) for k, v in mine.items())
    with torch.no_grad():
        assert torch.equal(m(ids).logits, back(ids).logits)
    assert m.config.sgc_layers == [0, 1, 2]  # saving did not change the live model


def test_keep_sgc_round_trip(teacher_dir, tmp_path):
    m = SpikingMambaForCausalLM.from_pretrained(teacher_dir, neuron="tilif")
    with torch.no_grad():
        m.backbone.layers[0].mixer.in_proj.sgc.weight.add_(1.0)
    m.save_pretrained(tmp_path / "train", keep_sgc=True)
    back = SpikingMambaForCausalLM.from_pretrained(tmp_path / "train")
    assert back.config.sgc_layers == [0, 1, 2]
    assert torch.equal(back.backbone.layers[0].mixer.in_proj.sgc.weight, m.backbone.layers[0].mixer.in_proj.sgc.weight)
    # SGC asked for on reload of an inference checkpoint: W′ starts again from W
    m.save_pretrained(tmp_path / "infer")
    again = SpikingMambaForCausalLM.from_pretrained(tmp_path / "infer", sgc_layers=[2])
    mixer = again.backbone.layers[2].mixer
    assert torch.equal(mixer.out_proj.sgc.weight, mixer.out_proj.weight)


def test_auto_classes(teacher_dir, tmp_path, ids):
    m = SpikingMambaForCausalLM.from_pretrained(teacher_dir, neuron="ilif")
    m.save_pretrained(tmp_path / "s")
    assert isinstance(AutoConfig.from_pretrained(tmp_path / "s"), SpikingMambaConfig)
    auto = AutoModelForCausalLM.from_pretrained(tmp_path / "s")
    assert isinstance(auto, SpikingMambaForCausalLM) and auto.config.neuron_in == "ilif"
    with torch.no_grad():
        assert torch.equal(auto(ids).logits, m(ids).logits)


def test_mamba_ssm_vocab_padding_and_tied_head(teacher_dir):
    cfg = json.load(open(os.path.join(teacher_dir, "config.json")))
    m = SpikingMambaForCausalLM.from_pretrained(teacher_dir)
    assert cfg["vocab_size"] == 100 and m.config.vocab_size == 112  # padded to a multiple of 16
    assert m.lm_head.weight.data_ptr() == m.backbone.embedding.weight.data_ptr()


def test_untied_transformers_checkpoint(tmp_path, ids, tiny_shape):
    d = save_tiny_mamba2(tmp_path / "untied", fmt="transformers", **tiny_shape, tie_word_embeddings=False)
    m = SpikingMambaForCausalLM.from_pretrained(d)
    assert not m.config.tie_word_embeddings
    assert not torch.equal(m.lm_head.weight, m.backbone.embedding.weight)
    from transformers import Mamba2ForCausalLM
    with torch.no_grad():
        ref = Mamba2ForCausalLM.from_pretrained(d).eval()(ids).logits
        assert (m(ids).logits - ref).abs().max() <= 1e-4


def test_dtype_and_device_arguments(teacher_dir, tmp_path, ids):
    m = SpikingMambaForCausalLM.from_pretrained(teacher_dir, dtype=torch.bfloat16, device="cpu")
    ref = SpikingMambaForCausalLM.from_pretrained(teacher_dir)
    assert m.lm_head.weight.dtype == torch.bfloat16
    with torch.no_grad():
        assert (m(ids).logits - ref(ids).logits).abs().max() < 0.1
    m.save_pretrained(tmp_path / "bf16")
    assert SpikingMambaForCausalLM.from_pretrained(tmp_path / "bf16").lm_head.weight.dtype == torch.float32
    auto = SpikingMambaForCausalLM.from_pretrained(tmp_path / "bf16", dtype="auto")
    assert {p.dtype for p in auto.parameters()} == {torch.bfloat16}


# ---------------------------------------------------------------- errors ----------------------------

def test_shape_mismatch_names_tensor_and_shapes(teacher_dir, tmp_path):
    d = copy_dir(teacher_dir, tmp_path / "bad")
    cfg = json.load(open(d / "config.json"))
    cfg["ssm_cfg"]["d_state"] = 8
    json.dump(cfg, open(d / "config.json", "w"))
    with pytest.raises(ValueError, match=r"tensor backbone\.layers\.0\.mixer\.in_proj\.weight has shape "
                                         r"\(328, 64\) but the config expects \(296, 64\)"):
        SpikingMambaForCausalLM.from_pretrained(d)


def test_transformers_default_ngroups_is_not_mamba_ssm_default(teacher_dirs, tmp_path):
    """A transformers config without n_groups means 8 groups: our 2-group weights must not fit."""
    d = copy_dir(teacher_dirs["transformers"], tmp_path / "t")
    cfg = json.load(open(d / "config.json"))
    del cfg["n_groups"]
    json.dump(cfg, open(d / "config.json", "w"))
    with pytest.raises(ValueError, match="has shape"):
        SpikingMambaForCausalLM.from_pretrained(d)


def test_missing_weights(teacher_dir, tmp_path):
    d = copy_dir(teacher_dir, tmp_path / "noweights")
    os.remove(d / "pytorch_model.bin")
    with pytest.raises(FileNotFoundError, match="no weights in .*pytorch_model.bin"):
        SpikingMambaForCausalLM.from_pretrained(d)


def test_missing_tensor(teacher_dir, tmp_path):
    d = copy_dir(teacher_dir, tmp_path / "partial")
    state = torch.load(d / "pytorch_model.bin", weights_only=True)
    del state["backbone.layers.1.mixer.A_log"]
    torch.save(state, d / "pytorch_model.bin")
    with pytest.raises(ValueError, match=r"missing tensors \['backbone\.layers\.1\.mixer\.A_log'\]"):
        SpikingMambaForCausalLM.from_pretrained(d)


@pytest.mark.parametrize("fmt", ["mamba_ssm", "transformers"])
def test_truncated_weights_at_every_cut(fmt, tmp_path):
    """Every truncation point is one ValueError naming the file, including the cuts where torch.load itself
    raises OSError [Errno 22] (checked below, so the test keeps covering them)."""
    d = save_tiny_mamba2(tmp_path / "t", fmt=fmt, d_model=16, n_layer=1, vocab_size=16, d_state=8, headdim=8)
    name = "pytorch_model.bin" if fmt == "mamba_ssm" else "model.safetensors"
    path = os.path.join(d, name)
    data = open(path, "rb").read()
    raw_errors = set()
    for cut in sorted({*range(0, len(data), max(1, len(data) // 150)), *range(len(data) - 30, len(data))}):
        open(path, "wb").write(data[:cut])
        if fmt == "mamba_ssm":
            try:
                torch.load(path, weights_only=True)
            except Exception as err:  # noqa: BLE001 - recording which errors torch raises
                raw_errors.add(type(err))
        with pytest.raises(ValueError, match=f"cannot read {path} .*truncated"):
            SpikingMambaForCausalLM.from_pretrained(d)
    if fmt == "mamba_ssm":
        assert OSError in raw_errors and EOFError in raw_errors


@pytest.mark.parametrize("content", [b"", b"hello, not a checkpoint", b"\x80\x02garbage"])
def test_garbage_weights_file(teacher_dir, tmp_path, content):
    d = copy_dir(teacher_dir, tmp_path / "garbage")
    open(d / "pytorch_model.bin", "wb").write(content)
    with pytest.raises(ValueError, match=r"cannot read .*pytorch_model\.bin .*truncated or"):
        SpikingMambaForCausalLM.from_pretrained(d)


@pytest.mark.parametrize("dtype", [torch.int8, torch.uint8, torch.bool, torch.int64])
@pytest.mark.parametrize("fmt", ["mamba_ssm", "transformers"])
def test_non_float_tensor_is_named(fmt, dtype, teacher_dirs, tmp_path):
    from safetensors.torch import save_file

    d = copy_dir(teacher_dirs[fmt], tmp_path / "q")
    if fmt == "mamba_ssm":
        state = torch.load(d / "pytorch_model.bin", weights_only=True)
        state["backbone.norm_f.weight"] = state["backbone.norm_f.weight"].to(dtype)
        torch.save(state, d / "pytorch_model.bin")
    else:
        state = load_file(d / "model.safetensors")
        state["backbone.norm_f.weight"] = state["backbone.norm_f.weight"].to(dtype)
        save_file(state, d / "model.safetensors")
    dname = str(dtype).removeprefix("torch.")
    with pytest.raises(ValueError, match=rf"checkpoint .*/q: tensor backbone\.norm_f\.weight has dtype torch\.{dname}; "
                                         r"only floating-point weights"):
        SpikingMambaForCausalLM.from_pretrained(d)


class Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickle_checkpoint_refused(teacher_dir, tmp_path, capsys):
    d = copy_dir(teacher_dir, tmp_path / "pickle")
    state = torch.load(d / "pytorch_model.bin", weights_only=True)
    state["backbone.norm_f.weight"] = Payload()
    torch.save(state, d / "pytorch_model.bin")
    with pytest.raises(ValueError, match="weights_only=True.*refuses.*safetensors"):
        SpikingMambaForCausalLM.from_pretrained(d)
    assert "this must never run" not in capsys.readouterr().out


@pytest.mark.parametrize("kwargs, message", [
    (dict(neuron="relu"), r"unknown neuron kind neuron_in='relu'"),
    (dict(neuron_out="spiky"), r"unknown neuron kind neuron_out='spiky'"),
    (dict(neuron="tilif", D=0), r"D .* must be an integer >= 1, got 0"),
    (dict(neuron="tilif", D=2.5), r"D .* must be an integer >= 1, got 2.5"),
    (dict(neuron="tilif", sgc_layers=[0, 3]), r"sgc_layers \[3\] out of range: .* n_layer = 3"),
    (dict(neuron="tilif", sgc_layers=[-1]), r"sgc_layers \[-1\] out of range"),
    (dict(sgc_layers=[0]), r"sgc_layers needs a spiking projection"),
    (dict(neuron="tilif", v_threshold=0), r"v_threshold_in must be a finite number > 0"),
    (dict(neurons="tilif"), r"unexpected keyword arguments \['neurons'\]"),
])
def test_bad_arguments(teacher_dir, kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        SpikingMambaForCausalLM.from_pretrained(teacher_dir, **kwargs)


def test_not_a_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    for missing in (str(tmp_path / "nowhere"), "./nowhere", "a/b/c"):
        with pytest.raises(FileNotFoundError, match=r"no such directory \(and not a hub repo id"):
            SpikingMambaForCausalLM.from_pretrained(missing)
    with pytest.raises(FileNotFoundError) as info:
        SpikingMambaForCausalLM.from_pretrained("state-spaces/mamba2-130m")
    assert str(info.value).startswith("'state-spaces/mamba2-130m' is not a local directory, and the Hugging Face hub "
                                      "is unreachable (HF_HUB_OFFLINE=1)")
    assert info.value.__cause__ is None and info.value.__suppress_context__  # one error, no hub chain
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        SpikingMambaForCausalLM.from_pretrained(tmp_path / "empty")
    (tmp_path / "gpt2").mkdir()
    json.dump({"model_type": "gpt2"}, open(tmp_path / "gpt2" / "config.json", "w"))
    with pytest.raises(ValueError, match="not a Mamba2 checkpoint"):
        SpikingMambaForCausalLM.from_pretrained(tmp_path / "gpt2")


def test_hub_unreachable_without_offline_flag(monkeypatch):
    """No network and HF_HUB_OFFLINE unset: huggingface_hub's LocalEntryNotFoundError (connection failed)."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    def no_network(**kwargs):
        raise LocalEntryNotFoundError("An error happened while trying to locate the files on the Hub")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.setattr("huggingface_hub.snapshot_download", no_network)
    with pytest.raises(FileNotFoundError, match=r"the Hugging Face hub is unreachable \(no connection\)"):
        SpikingMambaForCausalLM.from_pretrained("state-spaces/mamba2-130m")


@pytest.mark.parametrize("name, content, message", [
    ("config.json", "{not json", r"config\.json is not valid JSON \(Expecting property name"),
    ("config.json", "", r"config\.json is not valid JSON"),
    ("config.json", b"\xff\xfe\x00", r"config\.json is not valid JSON \('utf-8' codec"),
    ("config.json", "[1, 2]", r"config\.json holds a JSON list, not an object"),
    ("model.safetensors.index.json", "{bad", r"model\.safetensors\.index\.json is not valid JSON"),
    ("model.safetensors.index.json", "{}", r"model\.safetensors\.index\.json has no \"weight_map\""),
])
def test_malformed_json_names_the_file(teacher_dirs, tmp_path, name, content, message):
    d = copy_dir(teacher_dirs["transformers"], tmp_path / "bad")
    if name != "config.json":
        os.remove(d / "model.safetensors")
    open(d / name, "wb").write(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValueError, match=message):
        SpikingMambaForCausalLM.from_pretrained(d)


@pytest.mark.parametrize("fmt, change, message", [
    ("mamba_ssm", {"d_model": "64"}, r"d_model must be a positive integer, got '64'"),
    ("mamba_ssm", {"n_layer": None}, r"n_layer must be a positive integer, got None"),
    ("mamba_ssm", {"ssm_cfg": [1]}, r"ssm_cfg = \[1\] must be an object"),
    ("transformers", {"hidden_size": "abc"}, r"Validation error for field 'hidden_size'"),
    ("student", {"neuron_in": "relu"}, r"unknown neuron kind neuron_in='relu'"),
    ("student", {"sgc_layers": 5}, r"sgc_layers must be a list of block indices, got 5"),
    ("student", {"dt_limit": 5}, r"dt_limit must be \[low, high\] \(numbers\), got 5"),
])
def test_bad_config_field_names_the_file(teacher_dirs, tmp_path, fmt, change, message):
    if fmt == "student":
        SpikingMambaForCausalLM.from_pretrained(teacher_dirs["mamba_ssm"], neuron="tilif").save_pretrained(tmp_path / "c")
        d = tmp_path / "c"
    else:
        d = copy_dir(teacher_dirs[fmt], tmp_path / "c")
    cfg = {**json.load(open(d / "config.json")), **change}
    json.dump(cfg, open(d / "config.json", "w"))
    with pytest.raises(ValueError, match=rf"^{d}/config\.json: .*{message}"):
        SpikingMambaForCausalLM.from_pretrained(d)


def test_unsupported_mamba_ssm_variants(teacher_dir, tmp_path):
    for change, message in [({"ssm_cfg": {"layer": "Mamba1"}}, "only Mamba2"),
                            ({"d_intermediate": 128}, "MLP"), ({"attn_layer_idx": [1]}, "hybrid attention")]:
        d = tmp_path / message.replace(" ", "_")
        copy_dir(teacher_dir, d)
        cfg = {**json.load(open(d / "config.json")), **change}
        json.dump(cfg, open(d / "config.json", "w"))
        with pytest.raises(ValueError, match=message):
            SpikingMambaForCausalLM.from_pretrained(d)


def test_sharded_checkpoint(teacher_dirs, tmp_path, ids):
    from transformers import Mamba2ForCausalLM
    Mamba2ForCausalLM.from_pretrained(teacher_dirs["transformers"]).save_pretrained(tmp_path / "s", max_shard_size="40KB")
    shards = sorted(f for f in os.listdir(tmp_path / "s") if f.startswith("model-"))
    assert len(shards) > 1 and os.path.isfile(tmp_path / "s" / "model.safetensors.index.json")
    with torch.no_grad():
        a = SpikingMambaForCausalLM.from_pretrained(tmp_path / "s")(ids).logits
        assert torch.equal(a, SpikingMambaForCausalLM.from_pretrained(teacher_dirs["transformers"])(ids).logits)
    os.remove(tmp_path / "s" / shards[-1])
    with pytest.raises(FileNotFoundError, match=f"lists shard {shards[-1]}, which is missing"):
        SpikingMambaForCausalLM.from_pretrained(tmp_path / "s")


# ---------------------------------------------------------------- sgc_layers on load ----------------

def saved_teacher(teacher_dir, path):
    """The teacher as a SpikingMamba checkpoint (neuron "none": its config has sgc_layers = [])."""
    SpikingMambaForCausalLM.from_pretrained(teacher_dir).save_pretrained(path)
    assert json.load(open(path / "config.json"))["sgc_layers"] == []
    return path


def sgc_modules(model):
    return sorted(name for name, _ in model.named_modules() if name.endswith(".sgc"))


@pytest.mark.parametrize("source", ["mamba_ssm", "transformers", "saved_teacher"])
def test_student_from_a_teacher_gets_the_default_sgc_layers(source, teacher_dirs, tmp_path):
    """sgc_layers=None building a TI-LIF student from any teacher: first, middle, last block (§4.2, App. C),
    on the TI-LIF sides only; LIF / I-LIF students get none (the paper uses SGC with TI-LIF only)."""
    src = saved_teacher(teacher_dirs["mamba_ssm"], tmp_path / "t") if source == "saved_teacher" else teacher_dirs[source]
    for kwargs in (dict(neuron="tilif", sgc_layers=None), dict(neuron_out="tilif"), dict(neuron_in="ilif", neuron_out="tilif")):
        student = SpikingMambaForCausalLM.from_pretrained(src, **kwargs)
        assert student.config.sgc_layers == [0, 1, 2], (source, kwargs)
        mixer = student.backbone.layers[1].mixer
        assert torch.equal(mixer.out_proj.sgc.weight, mixer.out_proj.weight)  # W′ starts from W
        if kwargs.get("neuron_in", "tilif") != "tilif":
            assert mixer.in_proj.sgc is None and len(sgc_modules(student)) == 3
        else:
            assert len(sgc_modules(student)) == (6 if "neuron" in kwargs else 3)
    for kind in ("lif", "ilif"):
        student = SpikingMambaForCausalLM.from_pretrained(src, neuron=kind)
        assert student.config.sgc_layers == [] and sgc_modules(student) == [] and not student.sgc_parameters()
        with pytest.raises(ValueError, match="defines SGC's mimic .* for TI-LIF"):
            SpikingMambaForCausalLM.from_pretrained(src, neuron=kind, sgc_layers=[1])
    plain = SpikingMambaForCausalLM.from_pretrained(src, neuron="tilif", sgc_layers=[])  # explicit [] disables
    assert plain.config.sgc_layers == [] and sgc_modules(plain) == [] and not plain.sgc_parameters()
    teacher = SpikingMambaForCausalLM.from_pretrained(src)  # no neuron: the teacher itself, no SGC
    assert (teacher.config.neuron_in, teacher.config.sgc_layers) == ("none", [])


def test_saved_student_reload_keeps_its_own_sgc_layers(teacher_dir, tmp_path):
    student = SpikingMambaForCausalLM.from_pretrained(teacher_dir, neuron="tilif", sgc_layers=[1])
    student.save_pretrained(tmp_path / "train", keep_sgc=True)
    student.save_pretrained(tmp_path / "infer")
    for kwargs in (dict(), dict(neuron="tilif"), dict(neuron="tilif", sgc_layers=None), dict(neuron_in="lif")):
        back = SpikingMambaForCausalLM.from_pretrained(tmp_path / "train", **kwargs)
        assert back.config.sgc_layers == [1], kwargs
        assert SpikingMambaForCausalLM.from_pretrained(tmp_path / "infer", **kwargs).config.sgc_layers == [], kwargs
    with pytest.raises(ValueError, match="for TI-LIF"):  # its SGC branches cannot serve a LIF student
        SpikingMambaForCausalLM.from_pretrained(tmp_path / "train", neuron="lif")
    assert SpikingMambaForCausalLM.from_pretrained(tmp_path / "train", neuron="lif", sgc_layers=[]).config.sgc_layers == []
    off = SpikingMambaForCausalLM.from_pretrained(tmp_path / "train", sgc_layers=[])
    assert off.config.sgc_layers == [] and sgc_modules(off) == []
    assert SpikingMambaForCausalLM.from_pretrained(tmp_path / "train", neuron="none").config.sgc_layers == []


# ---------------------------------------------------------------- transformers' from_pretrained kwargs

# What transformers' AutoModelForCausalLM hands on when lm-eval 0.4.13's HFLM loads a checkpoint
# (`lm_eval --model hf --model_args pretrained=DIR`), plus other defaults TRL / accelerate pass.
HFLM_KWARGS = dict(revision="main", subfolder="", gguf_file=None, quantization_config=None, max_memory=None,
                   device_map={"": "cpu"}, dtype=torch.float32, trust_remote_code=False, adapter_kwargs=None)
OTHER_DEFAULTS = dict(low_cpu_mem_usage=True, attn_implementation="eager", use_safetensors=True, _from_auto=True,
                      output_loading_info=False, load_in_4bit=False, variant=None, offload_folder="./offload",
                      state_dict=None, tp_plan=None, key_mapping=None, weights_only=True, force_download=False,
                      cache_dir=None, token=None, local_files_only=True)


def test_transformers_kwargs_at_their_defaults_are_accepted(teacher_dir, tmp_path, ids):
    student = SpikingMambaForCausalLM.from_pretrained(teacher_dir, neuron="tilif")
    student.save_pretrained(tmp_path / "s")
    with torch.no_grad():
        want = student(ids).logits
        for kwargs in (HFLM_KWARGS, {**HFLM_KWARGS, **OTHER_DEFAULTS, "trust_remote_code": True, "device_map": "cpu"}):
            m = SpikingMambaForCausalLM.from_pretrained(tmp_path / "s", **kwargs)
            assert m.config.neuron_in == "tilif" and torch.equal(m(ids).logits, want)
        auto = AutoModelForCausalLM.from_pretrained(tmp_path / "s", **{k: v for k, v in HFLM_KWARGS.items()})
        assert torch.equal(auto(ids).logits, want)


def test_subfolder_is_honoured(teacher_dir, tmp_path):
    SpikingMambaForCausalLM.from_pretrained(teacher_dir, neuron="ilif").save_pretrained(tmp_path / "repo" / "sub")
    m = SpikingMambaForCausalLM.from_pretrained(tmp_path / "repo", subfolder="sub")
    assert m.config.neuron_in == "ilif"
    with pytest.raises(FileNotFoundError, match="subfolder='nope'"):
        SpikingMambaForCausalLM.from_pretrained(tmp_path / "repo", subfolder="nope")


@pytest.mark.parametrize("kwargs, message", [
    (dict(gguf_file="model.gguf"), r"from_pretrained\(gguf_file='model.gguf'\): GGUF"),
    (dict(quantization_config={"load_in_4bit": True}), r"quantization_config=.*quantized loading"),
    (dict(load_in_8bit=True), r"load_in_8bit=True.*quantized loading"),
    (dict(max_memory={0: "1GiB"}), r"max_memory=.*sharding"),
    (dict(device_map="auto"), r"device_map='auto' \(model sharding\)"),
    (dict(device_map={"backbone": "cpu", "lm_head": "cpu"}), r"device_map=.*model sharding"),
    (dict(device="cpu", device_map={"": "meta"}), r"disagree"),
    (dict(revision="v1.0"), r"revision='v1.0' applies to hub repos"),
    (dict(state_dict={"lm_head.weight": torch.zeros(1)}), r"state_dict=.*not supported"),
    (dict(adapter_kwargs={"adapter_name": "x"}), r"adapter_kwargs=.*PEFT"),
    (dict(output_loading_info=True), r"output_loading_info=True"),
])
def test_transformers_kwargs_we_cannot_honour_are_named(teacher_dir, kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpikingMambaForCausalLM.from_pretrained(teacher_dir, **kwargs)


# ---------------------------------------------------------------- save_pretrained(state_dict=...) ---

def test_save_pretrained_writes_the_given_state_dict(teacher_dir, tmp_path, ids):
    """accelerate / TRL / DeepSpeed ZeRO-3 pass the gathered weights; they, not the module's, are saved."""
    m = SpikingMambaForCausalLM.from_pretrained(teacher_dir, neuron="tilif")  # SGC on [0, 1, 2]
    given = {k: v.detach() + 0.5 for k, v in m.state_dict().items()}  # separate tensors (lm_head not aliased)
    keys = set(given)
    m.save_pretrained(tmp_path / "infer", state_dict=given)
    assert set(given) == keys  # the caller's dict is left alone
    stored = load_file(tmp_path / "infer" / "model.safetensors")
    assert not any(is_sgc_key(k) for k in stored) and "lm_head.weight" not in stored  # tied: the embedding only
    assert stored.keys() == {k for k in given if not is_sgc_key(k) and k != "lm_head.weight"}
    assert all(torch.equal(stored[k], given[k]) for k in stored)
    back = SpikingMambaForCausalLM.from_pretrained(tmp_path / "infer")
    assert back.config.sgc_layers == [] and m.config.sgc_layers == [0, 1, 2]
    assert torch.equal(back.lm_head.weight, given["backbone.embedding.weight"])

    m.save_pretrained(tmp_path / "train", keep_sgc=True, state_dict=given)
    stored = load_file(tmp_path / "train" / "model.safetensors")
    assert {k for k in given if is_sgc_key(k)} <= stored.keys() and "lm_head.weight" not in stored
    back = SpikingMambaForCausalLM.from_pretrained(tmp_path / "train")
    assert back.config.sgc_layers == [0, 1, 2]
    mixer = back.backbone.layers[2].mixer
    assert torch.equal(mixer.in_proj.sgc.weight, given["backbone.layers.2.mixer.in_proj.sgc.weight"])

    half = {k: v.to(torch.bfloat16) for k, v in given.items()}  # ZeRO-3 gathers 16-bit weights
    m.save_pretrained(tmp_path / "bf16", state_dict=half)
    assert {t.dtype for t in load_file(tmp_path / "bf16" / "model.safetensors").values()} == {torch.bfloat16}


def test_save_pretrained_state_dict_with_foreign_names_is_refused(teacher_dir, tmp_path):
    m = SpikingMambaForCausalLM.from_pretrained(teacher_dir)
    wrapped = {f"module.{k}": v for k, v in m.state_dict().items()}
    with pytest.raises(ValueError, match=r"tensors \['module\.backbone.*not in this model"):
        m.save_pretrained(tmp_path / "bad", state_dict=wrapped)
    assert not (tmp_path / "bad" / "model.safetensors").exists()


STOCK_LOAD = """
import sys, torch
from transformers import AutoModelForCausalLM
assert "models" not in sys.modules  # stock transformers: nothing of this project imported yet
model = AutoModelForCausalLM.from_pretrained(sys.argv[1], trust_remote_code=True)
with torch.no_grad():
    torch.save(model(torch.load(sys.argv[2])).logits, sys.argv[3])
print(type(model).__module__, type(model).__name__)
"""


def _stock_python(tmp_path, *args):
    """A fresh interpreter (this worktree importable, transformers' module cache in tmp_path)."""
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)


def test_stock_transformers_loads_a_saved_student(teacher_dir, tmp_path, ids):
    """auto_map + modeling_spiking_mamba.py: AutoModelForCausalLM(trust_remote_code=True) in a fresh
    interpreter gives our class and our logits; without trust_remote_code transformers names the fix."""
    m = SpikingMambaForCausalLM.from_pretrained(teacher_dir, neuron="tilif")
    m.save_pretrained(tmp_path / "s")
    cfg = json.load(open(tmp_path / "s" / "config.json"))
    assert cfg["auto_map"] == {"AutoConfig": "modeling_spiking_mamba.SpikingMambaConfig",
                               "AutoModelForCausalLM": "modeling_spiking_mamba.SpikingMambaForCausalLM"}
    torch.save(ids, tmp_path / "ids.pt")
    run = _stock_python(tmp_path, STOCK_LOAD, str(tmp_path / "s"), str(tmp_path / "ids.pt"), str(tmp_path / "out.pt"))
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["models.modeling", "SpikingMambaForCausalLM"]
    with torch.no_grad():
        assert torch.equal(torch.load(tmp_path / "out.pt"), m(ids).logits)
    refused = _stock_python(tmp_path, "import sys; from transformers import AutoModelForCausalLM; "
                                      "AutoModelForCausalLM.from_pretrained(sys.argv[1])", str(tmp_path / "s"))
    assert refused.returncode != 0 and "trust_remote_code=True" in refused.stderr


def test_saving_after_a_remote_code_load_ships_the_same_remote_code(teacher_dir, tmp_path):
    """transformers registers a remote-code class for its Auto class after loading; a later save must still
    write modeling_spiking_mamba.py, not a copy of models/modeling.py."""
    SpikingMambaForCausalLM.from_pretrained(teacher_dir, neuron="lif").save_pretrained(tmp_path / "a")
    auto = AutoModelForCausalLM.from_pretrained(tmp_path / "a", trust_remote_code=True)
    SpikingMambaConfig.register_for_auto_class()  # what AutoConfig does with remote code
    SpikingMambaForCausalLM.register_for_auto_class()
    auto.save_pretrained(tmp_path / "b")
    assert sorted(os.listdir(tmp_path / "b")) == ["config.json", "generation_config.json", "model.safetensors",
                                                  "modeling_spiking_mamba.py"]
    assert json.load(open(tmp_path / "b" / "config.json"))["auto_map"]["AutoConfig"].startswith("modeling_spiking_mamba.")
