"""The diversity reranker: MMR over tags (Jaccard) or the model's item vectors (cosine)."""

from __future__ import annotations

import numpy as np
import pytest

from infogap.plugins.diversity import (
    DiversityConfig,
    DiversityReranker,
    cosine_similarity,
    mmr_order,
    tag_similarity,
)
from infogap.server.plugin import RerankContext, ScoredItem

TAGS = {"a": ("x",), "b": ("x",), "c": ("y",), "d": ("z",)}
SCORES = np.array([1.0, 0.9, 0.8, 0.1])


def context(diversity, vectors=None, count=4) -> RerankContext:
    return RerankContext(
        "u",
        "default",
        count,
        "lightfm",
        lambda item_id: TAGS.get(item_id, ()),
        diversity=diversity,
        item_vectors=lambda ids: None if vectors is None else vectors[[ord(i) - 97 for i in ids]],
    )


def candidates() -> list[ScoredItem]:
    return [ScoredItem(i, float(s), "r") for i, s in zip("abcd", SCORES)]


def test_tag_similarity_is_jaccard():
    similarity = tag_similarity([("x", "y"), ("y", "z"), (), ()])
    assert similarity[0, 1] == similarity[1, 0] == pytest.approx(1 / 3)
    assert similarity[2, 3] == 0.0 and similarity[0, 0] == 0.0


def test_cosine_similarity():
    similarity = cosine_similarity(np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]]))
    assert similarity[0, 1] == pytest.approx(2**-0.5) and similarity[0, 2] == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("diversity", "expected"),
    [(0.0, [0, 1, 2, 3]), (0.25, [0, 2, 1, 3]), (0.5, [0, 2, 3, 1]), (1.0, [0, 2, 3, 1])],
)
def test_mmr_trades_relevance_for_novelty(diversity, expected):
    # b repeats a's tag: relevance 0.889 against similarity 1 to the first pick.
    similarity = tag_similarity([TAGS[i] for i in "abcd"])
    assert mmr_order(SCORES, similarity, diversity, 4) == expected


def test_mmr_picks_at_most_count():
    assert mmr_order(SCORES, np.zeros((4, 4)), 0.5, 2) == [0, 1]


def test_the_reranker_follows_the_request_then_the_default():
    off = DiversityReranker(DiversityConfig())
    assert [c.item_id for c in off.rerank(context(None), candidates())] == list("abcd")
    assert [c.item_id for c in off.rerank(context(0.5), candidates())] == list("acdb")
    on = DiversityReranker(DiversityConfig(default=0.5))
    assert [c.item_id for c in on.rerank(context(None), candidates())] == list("acdb")
    assert [c.item_id for c in on.rerank(context(0.0), candidates())] == list("abcd")


def test_the_reranker_prefers_the_models_vectors_to_tags():
    # By vectors, c is a twin of a and d sits between a and b; by tags: acdb.
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.6, 0.8]])
    reranker = DiversityReranker(DiversityConfig())
    ranked = reranker.rerank(context(0.5, vectors), candidates())
    assert [c.item_id for c in ranked] == list("abcd")
    ranked = reranker.rerank(context(0.9, vectors), candidates())
    assert [c.item_id for c in ranked] == list("abdc")  # c is a's exact twin


def test_the_reranker_keeps_every_candidate_and_its_fields():
    reranker = DiversityReranker(DiversityConfig())
    ranked = reranker.rerank(context(1.0, count=2), candidates())
    assert [c.item_id for c in ranked] == list("acbd")  # the two picks, then the rest in order
    assert sorted(ranked, key=lambda c: -c.score) == candidates()


def test_the_default_is_validated():
    with pytest.raises(ValueError, match="default"):
        DiversityConfig(default=1.5)
