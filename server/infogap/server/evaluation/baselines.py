"""Strong simple baselines, fit directly on a binary (users x items) training matrix, outside
any InfoGap server: the measuring stick that ``make bench`` and ``infogap eval`` put next to
InfoGap on the same split.

- **popularity**: training positives per item;
- **EASE** (Steck 2019): the closed-form item-item regression ``B = I - P / diag(P)`` with
  ``P = (X'X + lambda I)^-1``, lambda = 300, on the ``EASE_MAX_ITEMS`` most popular items at most
  (a dense item x item inverse; the others are never recommended by it);
- **item-kNN**: cosine similarity of item columns, each item's K = 100 nearest kept
  (``implicit.nearest_neighbours.CosineRecommender``); a user's score is the sum of the
  similarities of their training items;
- **implicit ALS** (``implicit.cpu.als.AlternatingLeastSquares``), 64 factors;
- **LightFM WARP**, 64 components, no features.

Each returns, per evaluated user, the best ``count`` items that the user did not touch in
training, and the seconds the fit took. Every baseline is seeded.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

EASE_LAMBDA = 300.0
EASE_MAX_ITEMS = 5_000  # a dense float32 inverse of this many items: about 10 s on 2 cores
KNN_NEIGHBOURS = 100
ALS_FACTORS = 64
ALS_ITERATIONS = 15
ALS_REGULARIZATION = 0.05
WARP_COMPONENTS = 64
WARP_EPOCHS = 30
SCORING_CELLS = 4_000_000  # users are scored in batches of at most this many (user, item) scores

Rankings = dict[int, list[int]]  # user index -> item indices, best first
# A fitted baseline: the dense scores of a batch of users (rows) over every item (columns).
Scorer = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Baseline:
    key: str
    label: str
    fit: Callable[[sp.csr_matrix, int], Scorer]  # (training matrix, seed) -> scorer


@dataclass(frozen=True)
class BaselineResult:
    key: str
    label: str
    rankings: Rankings
    fit_seconds: float
    notes: list[str] = field(default_factory=list)


def training_matrix(users: np.ndarray, items: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """The binary (users x items) matrix of the training positives (repeats count once)."""
    matrix = sp.csr_matrix(
        (np.ones(len(users), dtype=np.float32), (users, items)), shape=shape, dtype=np.float32
    )
    matrix.data[:] = 1.0
    return matrix


# --- the baselines ----------------------------------------------------------------------------


def fit_popularity(matrix: sp.csr_matrix, seed: int) -> Scorer:
    counts = np.asarray(matrix.sum(axis=0)).ravel().astype(np.float64)
    return lambda users: np.broadcast_to(counts, (len(users), len(counts)))


def fit_ease(matrix: sp.csr_matrix, seed: int, lam: float = EASE_LAMBDA) -> Scorer:
    counts = np.asarray(matrix.sum(axis=0)).ravel()
    kept = np.sort(np.argsort(-counts, kind="stable")[:EASE_MAX_ITEMS])
    kept = kept[counts[kept] > 0]
    x = matrix[:, kept]
    gram = (x.T @ x).toarray().astype(np.float32)
    gram[np.diag_indices_from(gram)] += lam
    p = np.linalg.inv(gram)
    b = -p / np.diag(p)
    b[np.diag_indices_from(b)] = 0.0
    item_count = matrix.shape[1]

    def score(users: np.ndarray) -> np.ndarray:
        scores = np.full((len(users), item_count), -np.inf, dtype=np.float32)
        scores[:, kept] = x[users] @ b
        return scores

    return score


def fit_item_knn(matrix: sp.csr_matrix, seed: int) -> Scorer:
    from implicit.nearest_neighbours import CosineRecommender
    from implicit.utils import ParameterWarning

    model = CosineRecommender(K=KNN_NEIGHBOURS)
    with warnings.catch_warnings():
        # The library normalises into a COO matrix of its own, then warns about it.
        warnings.simplefilter("ignore", ParameterWarning)
        model.fit(matrix, show_progress=False)
    similarity = sp.csr_matrix(model.similarity)  # item x item, K per row
    return lambda users: (matrix[users] @ similarity).toarray()


def fit_als(matrix: sp.csr_matrix, seed: int) -> Scorer:
    from implicit.cpu.als import AlternatingLeastSquares

    # implicit parallelises over users itself; a BLAS thread pool under it only contends.
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=ALS_FACTORS,
            regularization=ALS_REGULARIZATION,
            iterations=ALS_ITERATIONS,
            random_state=seed,
        )
        model.fit(matrix, show_progress=False)
    user_factors, item_factors = model.user_factors, model.item_factors
    return lambda users: user_factors[users] @ item_factors.T


def fit_lightfm_warp(matrix: sp.csr_matrix, seed: int) -> Scorer:
    from lightfm import LightFM

    model = LightFM(no_components=WARP_COMPONENTS, loss="warp", random_state=seed)
    model.fit(matrix.tocoo(), epochs=WARP_EPOCHS, num_threads=1)
    _, user_vectors = model.get_user_representations()
    item_biases, item_vectors = model.get_item_representations()

    def score(users: np.ndarray) -> np.ndarray:
        return user_vectors[users] @ item_vectors.T + item_biases

    return score


BASELINES = (
    Baseline("popularity", "popularity (training positives)", fit_popularity),
    Baseline("ease", f"EASE, lambda {EASE_LAMBDA:g}", fit_ease),
    Baseline("item_knn", f"item-kNN, cosine, K = {KNN_NEIGHBOURS}", fit_item_knn),
    Baseline("als", f"implicit ALS, {ALS_FACTORS} factors", fit_als),
    Baseline("lightfm_warp", f"LightFM WARP, {WARP_COMPONENTS} components", fit_lightfm_warp),
)


# --- ranking ----------------------------------------------------------------------------------


def _batches(users: Sequence[int], item_count: int) -> Iterator[np.ndarray]:
    array = np.asarray(users, dtype=np.int64)
    size = max(1, SCORING_CELLS // max(item_count, 1))
    for start in range(0, len(array), size):
        yield array[start : start + size]


def rank(
    scorer: Scorer,
    item_count: int,
    users: Sequence[int],
    excluded: Mapping[int, Collection[int]],
    count: int,
    candidates: Sequence[int] | None = None,
) -> Rankings:
    """Each user's ``count`` best items (among ``candidates``, if given), leaving out their
    ``excluded`` ones; ties broken by item index."""
    rankings: Rankings = {}
    for batch in _batches(users, item_count):
        scores = np.array(scorer(batch), dtype=np.float64)
        if candidates is not None:
            allowed = np.full(scores.shape[1], False)
            allowed[list(candidates)] = True
            scores[:, ~allowed] = -np.inf
        for row, user in zip(scores, batch.tolist()):
            row[list(excluded.get(user, ()))] = -np.inf
            depth = min(count, len(row))
            # Every item tied with the depth-th best takes part, so ties go by item index.
            threshold = -np.partition(-row, depth - 1)[depth - 1]
            best = np.flatnonzero(row >= threshold)
            best = best[np.lexsort((best, -row[best]))][:depth]
            rankings[user] = [int(i) for i in best if np.isfinite(row[i])]
    return rankings


def run_baselines(
    matrix: sp.csr_matrix,
    users: Sequence[int],
    excluded: Mapping[int, Collection[int]],
    *,
    count: int,
    seed: int,
    candidates: Sequence[int] | None = None,
    baselines: Sequence[Baseline] = BASELINES,
    progress: Callable[[str], None] = lambda message: None,
) -> list[BaselineResult]:
    """Fits each baseline on ``matrix`` (binary training positives) and ranks for ``users``;
    the results in ``baselines``' order."""
    results = []
    for baseline in baselines:
        progress(f"baseline: {baseline.label}")
        started = time.perf_counter()
        scorer = baseline.fit(matrix, seed)
        seconds = time.perf_counter() - started
        notes = []
        if baseline.key == "ease" and matrix.shape[1] > EASE_MAX_ITEMS:
            notes.append(f"on the {EASE_MAX_ITEMS:,} most popular items")
        rankings = rank(scorer, matrix.shape[1], users, excluded, count, candidates)
        results.append(BaselineResult(baseline.key, baseline.label, rankings, seconds, notes))
    return results
