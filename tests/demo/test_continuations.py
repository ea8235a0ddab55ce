"""Next-verse sampling: true continuations, impostors from other documents, deterministic."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.demo.continuations import sample_continuations
from pipelines.demo.corpus import Document


def test_examples_are_true_continuations_with_foreign_distractors(corpus):
    docs = corpus.heldout
    by_name = {d.name: d for d in docs}
    examples = sample_continuations(docs, 200, n_context=3, n_distractors=3, seed=1)
    assert len({ex.source for ex in examples}) == 200
    for ex in examples:
        name, verse = ex.source.rsplit(":", 1)
        doc, j = by_name[name], int(verse) - 1
        assert ex.target == doc.verses[j] and ex.context == " ".join(doc.verses[j - 3:j])
        assert len(set(ex.distractors)) == 3 and ex.target not in ex.distractors
        assert not set(ex.distractors) & set(doc.verses)          # never from the same chapter
        assert all(any(v in d.verses for d in docs) for v in ex.distractors)


def test_distractors_are_length_matched(corpus):
    examples = sample_continuations(corpus.heldout, 300, seed=0)
    ratios = sorted(len(v) / len(ex.target) for ex in examples for v in ex.distractors)
    median = ratios[len(ratios) // 2]
    assert 0.9 < median < 1.1
    assert ratios[int(0.05 * len(ratios))] > 0.6 and ratios[int(0.95 * len(ratios))] < 1.6


def test_deterministic_in_seed(corpus):
    a = sample_continuations(corpus.heldout, 50, seed=3)
    assert a == sample_continuations(corpus.heldout, 50, seed=3)
    assert a != sample_continuations(corpus.heldout, 50, seed=4)


@settings(max_examples=50, deadline=None)
@given(lengths=st.lists(st.integers(1, 12), min_size=3, max_size=8), n_context=st.integers(1, 4),
       seed=st.integers(0, 2 ** 16))
def test_every_valid_position_can_be_drawn_and_no_more(lengths, n_context, seed):
    docs = [Document(f"d{i}", tuple(f"verse {i}.{k}" for k in range(n))) for i, n in enumerate(lengths)]
    valid = sum(max(0, n - n_context) for n in lengths)
    if valid == 0:
        with pytest.raises(ValueError):
            sample_continuations(docs, 1, n_context, n_distractors=1, seed=seed)
        return
    examples = sample_continuations(docs, valid, n_context, n_distractors=1, seed=seed, pool_width=1000)
    assert sorted(ex.source for ex in examples) == sorted(
        f"d{i}:{j + 1}" for i, n in enumerate(lengths) for j in range(n_context, n))
    with pytest.raises(ValueError, match="positions"):
        sample_continuations(docs, valid + 1, n_context, n_distractors=1, seed=seed)


def test_bad_arguments_raise(corpus):
    with pytest.raises(ValueError, match="n_context"):
        sample_continuations(corpus.heldout, 5, n_context=0)
