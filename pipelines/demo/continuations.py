"""Verse-ending examples: preceding verses plus the first half of a verse, its true second half, and
length-matched impostor endings.

The shared sampler behind the demo's zero-shot multiple-choice task (held-out split) and its
preference set (training split), HellaSwag-style ("choose the ending"). For verse ``j`` of a document
(at least ``MIN_WORDS`` words), split at its middle word into ``head | tail``: the context is
``verses[j - n_context : j] + head`` joined by spaces, the target is ``tail``, and each distractor is
the ``tail`` of a verse of a *different* document whose length in characters is among the closest to
the target's (so length alone does not give the answer away), distinct from the target and from each
other. Deterministic in ``seed``.
"""
from __future__ import annotations

import bisect
import random
from dataclasses import dataclass

from pipelines.demo.corpus import Document

MIN_WORDS = 6  # shorter verses ("Jesus wept.") have no meaningful ending to choose


@dataclass(frozen=True)
class Continuation:
    source: str                    # "Genesis 1:5" style: document name and 1-based verse number
    context: str                   # n_context verses and the first half of the verse, joined by spaces
    target: str                    # the true second half of the verse
    distractors: tuple[str, ...]   # second halves of verses of other documents


def split_verse(verse: str) -> tuple[str, str]:
    """``(head, tail)`` at the middle word: ``head + " " + tail == verse``."""
    words = verse.split(" ")
    half = len(words) // 2
    return " ".join(words[:half]), " ".join(words[half:])


def sample_continuations(docs: tuple[Document, ...] | list[Document], n: int, n_context: int = 3,
                         n_distractors: int = 3, seed: int = 0, pool_width: int = 64) -> list[Continuation]:
    """``n`` examples at distinct verses, drawn uniformly from every eligible one.

    ``pool_width``: distractors are drawn from the ``pool_width`` endings of other documents nearest
    in length to the target.
    """
    if n_context < 1 or n_distractors < 1 or n < 1:
        raise ValueError(f"need n, n_context and n_distractors >= 1, got n={n}, "
                         f"n_context={n_context}, n_distractors={n_distractors}")

    def eligible(verse: str) -> bool:
        return len(verse.split(" ")) >= MIN_WORDS

    positions = [(d, j) for d, doc in enumerate(docs) for j in range(n_context, len(doc.verses))
                 if eligible(doc.verses[j])]
    if n > len(positions):
        raise ValueError(f"asked for n={n} examples but the {len(docs)} documents hold only {len(positions)} "
                         f"verses of >= {MIN_WORDS} words after {n_context} verses of context; lower n")
    pool = sorted((len(tail), tail, d) for d, doc in enumerate(docs) for v in doc.verses if eligible(v)
                  for tail in (split_verse(v)[1],))
    lengths = [p[0] for p in pool]
    rng = random.Random(seed)
    examples = []
    for d, j in sorted(rng.sample(positions, n)):
        doc = docs[d]
        head, target = split_verse(doc.verses[j])
        centre = bisect.bisect_left(lengths, len(target))
        window = pool[max(0, centre - pool_width // 2): centre + pool_width // 2]
        candidates = sorted({t for _, t, other in window if other != d and t != target})
        if len(candidates) < n_distractors:
            raise ValueError(f"only {len(candidates)} distractor candidates for {doc.name}:{j + 1}; "
                             f"raise pool_width (now {pool_width}) or add documents")
        examples.append(Continuation(source=f"{doc.name}:{j + 1}",
                                     context=" ".join((*doc.verses[j - n_context:j], head)), target=target,
                                     distractors=tuple(rng.sample(candidates, n_distractors))))
    return examples
