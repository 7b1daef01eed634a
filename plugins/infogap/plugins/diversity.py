"""Diversity reranker: maximal marginal relevance (MMR) over the candidates.

Each pick maximises ``(1 - d) * relevance - d * (highest similarity to an item already
picked)``, where ``d`` is the request's ``diversity`` (``RecommendRequest.diversity``; the
configured ``default`` when the request leaves it unset) and relevance is the score rescaled
to [0, 1] over the candidates. Similarity is the cosine of the serving model's item vectors
when it offers them (``ItemVectorModel``), else the Jaccard similarity of the items' tags.
``d = 0`` leaves the list as scored; ``d = 1`` picks the best item, then the least similar ones.

Options: ``[plugin_config.diversity]`` (``DiversityConfig``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from infogap.server.plugin import RerankContext, Reranker, ScoredItem, hookimpl

NAME = "diversity"
ORDER = 100  # after business rules, before exploration


class DiversityConfig(BaseModel):
    """The diversity reranker's options."""

    model_config = ConfigDict(extra="forbid")

    default: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="The diversity of requests that do not set one: 0 (off) to 1 (the most).",
    )


def tag_similarity(tags: Sequence[tuple[str, ...]]) -> np.ndarray:
    """Pairwise Jaccard similarity of tag sets (two items without tags: 0)."""
    sets = [set(t) for t in tags]
    n = len(sets)
    similarity = np.zeros((n, n), dtype=np.float64)
    for i in range(n):
        for j in range(i + 1, n):
            union = len(sets[i] | sets[j])
            if union:
                similarity[i, j] = similarity[j, i] = len(sets[i] & sets[j]) / union
    return similarity


def cosine_similarity(vectors: np.ndarray) -> np.ndarray:
    """Pairwise cosine similarity of the rows of ``vectors``."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.maximum(norms, 1e-12)
    return np.asarray(unit @ unit.T)


def mmr_order(
    scores: np.ndarray, similarity: np.ndarray, diversity: float, count: int
) -> list[int]:
    """Indices of the ``count`` MMR picks, in pick order.

    :param scores: relevance of each candidate (any scale; rescaled to [0, 1] here).
    :param similarity: candidates x candidates similarity.
    :param diversity: the trade-off ``d`` in [0, 1].
    """
    n = len(scores)
    spread = float(scores.max() - scores.min()) if n else 0.0
    relevance = (scores - scores.min()) / spread if spread > 0 else np.zeros(n)
    closest = np.zeros(n)  # highest similarity to a picked item
    available = np.ones(n, dtype=bool)
    picked: list[int] = []
    for _ in range(min(count, n)):
        value = np.where(available, (1 - diversity) * relevance - diversity * closest, -np.inf)
        best = int(np.argmax(value))  # ties: the earlier, better-scored candidate
        picked.append(best)
        available[best] = False
        closest = np.maximum(closest, similarity[best])
    return picked


class DiversityReranker:
    """Reorders the candidates by MMR; returns them all, the picks first."""

    name = NAME
    order = ORDER

    def __init__(self, config: DiversityConfig) -> None:
        self._default = config.default

    def rerank(self, context: RerankContext, candidates: list[ScoredItem]) -> list[ScoredItem]:
        diversity = self._default if context.diversity is None else context.diversity
        if diversity <= 0 or len(candidates) < 2:
            return candidates
        ids = [item.item_id for item in candidates]
        vectors = context.item_vectors(ids)
        similarity = (
            cosine_similarity(vectors)
            if vectors is not None
            else tag_similarity([context.tags_of(i) for i in ids])
        )
        scores = np.array([item.score for item in candidates], dtype=np.float64)
        order = mmr_order(scores, similarity, diversity, context.count)
        chosen = set(order)
        rest = [i for i in range(len(candidates)) if i not in chosen]
        return [candidates[i] for i in order + rest]


@hookimpl
def infogap_plugin_config_model() -> type[BaseModel]:
    return DiversityConfig


@hookimpl
def infogap_register_rerankers(
    register: Callable[[Reranker], None], config: DiversityConfig
) -> None:
    register(DiversityReranker(config))
