"""The KJV corpus: provenance hash, size, and a split that never leaks held-out chapters."""
import json

import pytest

from pipelines.demo.corpus import KJV_SHA256, Document, kjv_path, load_corpus, read_chapters, split_documents


def test_installed_file_is_the_documented_one(corpus):
    assert corpus.sha256 == KJV_SHA256
    assert kjv_path().stat().st_size == 6_841_554


def test_sizes_and_counts(corpus):
    assert len(corpus.train) + len(corpus.heldout) == 1189            # chapters of the KJV
    assert len(corpus.heldout) == len(range(10, 1189, 20)) == 59
    assert sum(len(d.verses) for d in corpus.train + corpus.heldout) == 31102   # 3 John 1:15 "[]" dropped
    assert corpus.n_bytes("train") + corpus.n_bytes("heldout") >= 2 * 1024 ** 2
    assert corpus.n_bytes("heldout") > 150_000


def test_split_is_by_document_and_disjoint(corpus):
    train, held = {d.name for d in corpus.train}, {d.name for d in corpus.heldout}
    assert not train & held
    assert len(train) == len(corpus.train) and len(held) == len(corpus.heldout)
    # oracle: the canonical chapter order read straight from the raw file
    order = list(dict.fromkeys(f"{v['book']} {v['chapter']}" for v in map(json.loads, kjv_path().open())))
    assert order[:2] == ["Genesis 1", "Genesis 2"] and order[-1] == "Revelation 22"
    assert [d.name for d in corpus.heldout] == order[10::20]
    assert [d.name for d in corpus.heldout][:3] == ["Genesis 11", "Genesis 31", "Exodus 1"]
    held_text = {d.text for d in corpus.heldout}
    assert not held_text & {d.text for d in corpus.train}


def test_deterministic(corpus):
    again = load_corpus()
    assert again == corpus


def test_read_chapters_groups_in_order_and_drops_empty_verses(tmp_path):
    rows = [("A", 1, "one."), ("A", 1, "two  words."), ("A", 2, "[]"), ("A", 2, "three."), ("B", 1, "four.")]
    path = tmp_path / "tiny.jsonl"
    path.write_text("".join(json.dumps({"book": b, "chapter": c, "text": t}) + "\n" for b, c, t in rows))
    assert read_chapters(path) == [Document("A 1", ("one.", "two words.")), Document("A 2", ("three.",)),
                                   Document("B 1", ("four.",))]


@pytest.mark.parametrize("every,offset", [(1, 0), (5, 5), (5, -1)])
def test_bad_split_settings_raise(every, offset):
    with pytest.raises(ValueError, match="heldout_every"):
        split_documents([Document("x", ("y",))] * 10, every, offset)


def test_split_covers_every_document_once():
    docs = [Document(str(i), (f"v{i}",)) for i in range(53)]
    train, held = split_documents(docs, 7, 3)
    assert sorted(train + held, key=lambda d: int(d.name)) == docs
    assert [int(d.name) for d in held] == list(range(3, 53, 7))
