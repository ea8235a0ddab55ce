"""Recurrent decoding: prefill + decode == one full forward; generate() == repeated argmax."""

import pytest
import torch

from models import SpikingMambaForCausalLM


@pytest.fixture(params=["none", "tilif"])
def model(request, teacher_dir):
    return SpikingMambaForCausalLM.from_pretrained(teacher_dir, neuron=request.param, sgc_layers=[])


def test_prefill_then_decode_equals_full_forward(model, ids):
    with torch.no_grad():
        full = model(ids).logits
        out = model(ids[:, :13], use_cache=True)
        cache = out.cache_params
        logits = [out.logits] + [model(ids[:, t:t + 1], cache_params=cache, use_cache=True).logits
                                 for t in range(13, ids.shape[1])]
    assert cache.seqlen_offset == ids.shape[1]
    torch.testing.assert_close(torch.cat(logits, 1), full, atol=1e-5, rtol=0)


def test_multi_token_continuation_equals_full_forward(model, ids):
    """A second multi-token call continues from the cached conv and SSM states (chunked scan)."""
    with torch.no_grad():
        full = model(ids).logits
        first = model(ids[:, :6], use_cache=True)
        second = model(ids[:, 6:], cache_params=first.cache_params, use_cache=True)
    torch.testing.assert_close(torch.cat([first.logits, second.logits], 1), full, atol=1e-5, rtol=0)


def test_greedy_generate_is_repeated_argmax(model, ids):
    prompt = ids[:, :5]
    out = model.generate(prompt, max_new_tokens=12, do_sample=False)
    seq = prompt
    with torch.no_grad():
        for _ in range(12):
            seq = torch.cat([seq, model(seq).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(out, seq)


def test_sampling_is_seeded_and_in_vocab(model, ids):
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        runs.append(model.generate(ids[:, :5], max_new_tokens=8, do_sample=True, top_k=10, temperature=0.8))
    assert torch.equal(runs[0], runs[1])
    assert runs[0].shape == (2, 13) and runs[0].max() < model.config.vocab_size


def test_decode_memory_is_constant(teacher):
    """The cache is allocated once: its tensors keep their storage and size over a long decode."""
    with torch.no_grad():
        out = teacher(torch.zeros(1, 4, dtype=torch.long), use_cache=True)
        cache = out.cache_params
        storages = (cache.conv_states.data_ptr(), cache.ssm_states.data_ptr())
        size = cache.nbytes()
        token = torch.zeros(1, 1, dtype=torch.long)
        for _ in range(300):
            teacher(token, cache_params=cache, use_cache=True)
    assert (cache.conv_states.data_ptr(), cache.ssm_states.data_ptr()) == storages
    assert cache.nbytes() == size and cache.seqlen_offset == 304


def test_beam_search_is_refused(teacher, ids):
    with pytest.raises(ValueError, match="only supports"):
        teacher.generate(ids[:, :3], max_new_tokens=2, num_beams=2)


def test_left_padded_batch_generates_like_single_prompts(model, ids):
    """Padding positions are zeroed before in_proj and after the conv: they leave no trace in the state."""
    short, long = ids[0, :4], ids[1, :7]
    batch = torch.stack([torch.cat([torch.zeros(3, dtype=torch.long), short]), long])
    mask = torch.ones_like(batch)
    mask[0, :3] = 0
    together = model.generate(batch, attention_mask=mask, max_new_tokens=6, do_sample=False)
    for row, prompt in ((0, short), (1, long)):
        alone = model.generate(prompt[None], max_new_tokens=6, do_sample=False)
        assert torch.equal(together[row, -6:], alone[0, -6:])
