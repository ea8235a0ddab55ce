"""Verse-ending sampling: true endings, impostor endings from other documents, deterministic."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.demo.continuations import MIN_WORDS, sample_continuations, split_verse
from pipelines.demo.corpus import Document


def test_examples_are_true_continuations_with_foreign_distractors(corpus):
    docs = corpus.heldout
    by_name = {d.name: d for d in docs}
    examples = sample_continuations(docs, 200, n_context=3, n_distractors=3, seed=1)
    assert len({ex.source for ex in examples}) == 200
    endings = {d.name: {split_verse(v)[1] for v in d.verses} for d in docs}
    for ex in examples:
        name, verse = ex.source.rsplit(":", 1)
        doc, j = by_name[name], int(verse) - 1
        assert f"{ex.context} {ex.target}" == " ".join(doc.verses[j - 3:j + 1])
        assert ex.target == split_verse(doc.verses[j])[1] and len(doc.verses[j].split()) >= MIN_WORDS
        assert len(set(ex.distractors)) == 3 and ex.target not in ex.distractors
        assert not set(ex.distractors) & endings[name]            # never from the same chapter
        assert all(any(t in e for n, e in endings.items() if n != name) for t in ex.distractors)


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


@given(st.lists(st.text(alphabet="ab ,.", min_size=1), min_size=1, max_size=12))
def test_split_verse_rejoins(words):
    verse = " ".join(words)
    head, tail = split_verse(verse)
    assert f"{head} {tail}" == verse or (head == "" and tail == verse)


@settings(max_examples=50, deadline=None)
@given(lengths=st.lists(st.integers(1, 12), min_size=3, max_size=8), n_context=st.integers(1, 4),
       seed=st.integers(0, 2 ** 16))
def test_every_valid_position_can_be_drawn_and_no_more(lengths, n_context, seed):
    # verse k of document i has k + 3 words: verses 0..2 are too short to be asked about
    docs = [Document(f"d{i}", tuple(" ".join(f"w{i}.{k}.{w}" for w in range(k + 3)) for k in range(n)))
            for i, n in enumerate(lengths)]
    valid = sum(1 for n in lengths for j in range(n_context, n) if j + 3 >= MIN_WORDS)
    if valid == 0:
        with pytest.raises(ValueError, match="verses of >= 6 words"):
            sample_continuations(docs, 1, n_context, n_distractors=1, seed=seed)
        return
    if sum(n + 3 > MIN_WORDS for n in lengths) < 2:   # no other document has an ending to borrow
        with pytest.raises(ValueError, match="distractor candidates"):
            sample_continuations(docs, valid, n_context, n_distractors=1, seed=seed, pool_width=1000)
        return
    examples = sample_continuations(docs, valid, n_context, n_distractors=1, seed=seed, pool_width=1000)
    assert sorted(ex.source for ex in examples) == sorted(
        f"d{i}:{j + 1}" for i, n in enumerate(lengths) for j in range(n_context, n) if j + 3 >= MIN_WORDS)
    with pytest.raises(ValueError, match="verses of >= 6 words"):
        sample_continuations(docs, valid + 1, n_context, n_distractors=1, seed=seed)


def test_bad_arguments_raise(corpus):
    with pytest.raises(ValueError, match="n_context"):
        sample_continuations(corpus.heldout, 5, n_context=0)
