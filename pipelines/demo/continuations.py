"""Next-verse examples: a context of verses, the true next verse, and length-matched impostors.

The shared sampler behind the demo's zero-shot multiple-choice task (held-out split) and its
preference set (training split). An example at position ``j`` of a document has the context
``verses[j - n_context : j]`` and the target ``verses[j]``; each distractor is a verse of a *different*
document whose length in characters is among the closest to the target's (so length alone does
not give the answer away), distinct from the target and from each other. Deterministic in ``seed``.
"""
from __future__ import annotations

import bisect
import random
from dataclasses import dataclass

from pipelines.demo.corpus import Document


@dataclass(frozen=True)
class Continuation:
    source: str                    # "Genesis 1:5" style: document name and 1-based verse number
    context: str                   # n_context verses joined by spaces
    target: str                    # the true next verse
    distractors: tuple[str, ...]   # verses from other documents


def sample_continuations(docs: tuple[Document, ...] | list[Document], n: int, n_context: int = 3,
                         n_distractors: int = 3, seed: int = 0, pool_width: int = 64) -> list[Continuation]:
    """``n`` examples at distinct positions, drawn uniformly from every valid position.

    ``pool_width``: distractors are drawn from the ``pool_width`` verses of other documents nearest
    in length to the target.
    """
    if n_context < 1 or n_distractors < 1 or n < 1:
        raise ValueError(f"need n, n_context and n_distractors >= 1, got n={n}, "
                         f"n_context={n_context}, n_distractors={n_distractors}")
    positions = [(d, j) for d, doc in enumerate(docs) for j in range(n_context, len(doc.verses))]
    if n > len(positions):
        raise ValueError(f"asked for n={n} examples but the {len(docs)} documents hold only "
                         f"{len(positions)} positions with {n_context} verses of context; lower n")
    pool = sorted((len(v), v, d) for d, doc in enumerate(docs) for v in doc.verses)
    lengths = [p[0] for p in pool]
    rng = random.Random(seed)
    examples = []
    for d, j in sorted(rng.sample(positions, n)):
        doc = docs[d]
        target = doc.verses[j]
        centre = bisect.bisect_left(lengths, len(target))
        window = pool[max(0, centre - pool_width // 2): centre + pool_width // 2]
        candidates = sorted({v for _, v, other in window if other != d and v != target})
        if len(candidates) < n_distractors:
            raise ValueError(f"only {len(candidates)} distractor candidates for {doc.name}:{j + 1}; "
                             f"raise pool_width (now {pool_width}) or add documents")
        examples.append(Continuation(source=f"{doc.name}:{j + 1}",
                                     context=" ".join(doc.verses[j - n_context:j]), target=target,
                                     distractors=tuple(rng.sample(candidates, n_distractors))))
    return examples
