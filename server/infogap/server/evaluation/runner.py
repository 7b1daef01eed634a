"""Runs candidates side by side through the serving path production uses: a real in-process
InfoGapServer per candidate on a temporary data directory, users, items and training events
sent through the SDK, Train, then Recommend (or RankItems, for cold items) per test user."""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from infogap.client import Client
from infogap.server.config import load_settings
from infogap.server.transport.server import InfoGapServer

from . import metrics as m
from .data import MovieLens, load_movielens
from .splits import EvaluationSplit, make_split

CURVE_K = 20  # precision/recall curves run over k = 1..CURVE_K
NUM_THREADS = 2
RESAMPLES = 200
ACTIVITY_BUCKETS = (("0", 0, 0), ("1", 1, 1), ("2-5", 2, 5), ("6-20", 6, 20), ("21+", 21, None))

# name -> (label, higher is better)
METRICS = {
    "precision": ("Precision@k", True),
    "recall": ("Recall@k", True),
    "f1": ("F1@k", True),
    "ndcg": ("NDCG@k", True),
    "map": ("MAP@k", True),
    "mrr": ("MRR@k", True),
    "hit_rate": ("Hit rate@k", True),
    "auc": ("AUC", True),
    "coverage": ("Catalogue coverage", True),
    "diversity": ("Intra-list diversity (tags)", True),
    "novelty": ("Mean popularity rank (novelty)", True),
}
PER_USER = {
    "precision": m.precision_at_k,
    "recall": m.recall_at_k,
    "f1": m.f1_at_k,
    "ndcg": m.ndcg_at_k,
    "map": m.average_precision_at_k,
    "mrr": m.reciprocal_rank_at_k,
    "hit_rate": m.hit_rate_at_k,
}


@dataclass(frozen=True)
class Candidate:
    key: str
    label: str
    lightfm: dict[str, Any] = field(default_factory=dict)
    lightfm_enabled: bool = True
    user_attributes: bool = True
    item_tags: bool = True


CANDIDATES = (
    Candidate("popularity", "Popularity (LightFM plugin disabled)", lightfm_enabled=False),
    Candidate("lightfm", "LightFM, current settings"),
    Candidate("lightfm_bpr", "LightFM, loss bpr", {"loss": "bpr"}),
    Candidate("lightfm_16", "LightFM, no_components 16", {"no_components": 16}),
    Candidate("lightfm_no_user_features", "LightFM, no user features", user_attributes=False),
    Candidate("lightfm_no_item_features", "LightFM, no item features", item_tags=False),
)


@dataclass
class Served:
    rankings: dict[int, list[int]]
    strategies: Counter
    train_seconds: float


def serve_candidate(
    data: MovieLens,
    split: EvaluationSplit,
    candidate: Candidate,
    *,
    count: int,
    lightfm_overrides: dict[str, Any],
    config: Path | None,
) -> Served:
    lightfm = {"num_threads": NUM_THREADS, **lightfm_overrides, **candidate.lightfm}
    plugins = {} if candidate.lightfm_enabled else {"disabled": ["lightfm"]}
    with tempfile.TemporaryDirectory(prefix="infogap-eval-") as data_dir:
        settings = load_settings(
            config,
            data_dir=Path(data_dir),
            host="127.0.0.1",
            port=0,
            lightfm=lightfm,
            plugins=plugins,
        )
        server = InfoGapServer(settings).start()
        try:
            with Client(server.address, timeout=120) as client:
                client.upsert_users(data.user_entities(with_attributes=candidate.user_attributes))
                client.upsert_items(data.item_entities(with_genres=candidate.item_tags))
                client.record(data.rating_events(split.train))
                started = time.perf_counter()
                client.train()
                train_seconds = time.perf_counter() - started
                rankings, strategies = {}, Counter()
                candidate_ids = (
                    [data.item_ids[i] for i in split.candidate_items]
                    if split.candidate_items is not None
                    else None
                )
                for user in split.users:
                    user_id = data.user_ids[user]
                    if candidate_ids is None:
                        response = client.recommend(user_id, count=count)
                    else:
                        # RankItems keeps the caller's order among equal scores: shuffled
                        # (seeded per user), items a model cannot tell apart rank at random
                        # rather than in catalogue order, which follows popularity here.
                        order = np.random.default_rng(user).permutation(len(candidate_ids))
                        shuffled = [candidate_ids[i] for i in order]
                        response = client.rank_items(user_id, shuffled)
                    rankings[user] = [data.item_position[i.item_id] for i in response.items]
                    strategies[response.strategy] += 1
        finally:
            server.stop(grace=0)
    return Served(rankings, strategies, train_seconds)


def _bucket(count: int) -> str:
    for name, low, high in ACTIVITY_BUCKETS:
        if count >= low and (high is None or count <= high):
            return name
    raise AssertionError(count)


def score_candidate(
    data: MovieLens,
    split: EvaluationSplit,
    served: Served,
    *,
    k: int,
    seed: int,
    resamples: int,
) -> dict[str, Any]:
    users = split.users
    train_counts = np.bincount(split.train.user, minlength=data.user_count)
    popularity = np.bincount(split.train.positives().item, minlength=data.item_count)
    pop_ranks = m.popularity_ranks(popularity)
    tags = dict(enumerate(data.item_genres))
    seen = split.train.items_by_user()
    all_items = set(range(data.item_count))
    catalogue = len(split.candidate_items) if split.candidate_items is not None else data.item_count

    per_user: dict[str, list[float]] = {name: [] for name in METRICS if name != "coverage"}
    curves = {"precision": np.zeros(CURVE_K), "recall": np.zeros(CURVE_K)}
    for user in users:
        ranked, relevant = served.rankings[user], split.relevant[user]
        for name, function in PER_USER.items():
            per_user[name].append(function(ranked, relevant, k))
        candidates = (
            set(split.candidate_items)
            if split.candidate_items is not None
            else all_items - seen.get(user, set())
        )
        per_user["auc"].append(m.ranking_auc(ranked, relevant, candidates))
        per_user["diversity"].append(m.intra_list_diversity(ranked, tags, k))
        per_user["novelty"].append(m.mean_popularity_rank(ranked, pop_ranks, k))
        for depth in range(1, CURVE_K + 1):
            curves["precision"][depth - 1] += m.precision_at_k(ranked, relevant, depth)
            curves["recall"][depth - 1] += m.recall_at_k(ranked, relevant, depth)

    lists = [served.rankings[u] for u in users]
    results: dict[str, Any] = {}
    for offset, (name, values) in enumerate(per_user.items()):
        array = np.asarray(values, dtype=float)
        point = float(np.nanmean(array)) if np.isfinite(array).any() else float("nan")
        low, high = m.bootstrap_ci(array, resamples=resamples, seed=seed + offset)
        results[name] = {"value": point, "ci95": [low, high]}
    coverage = m.catalogue_coverage(lists, catalogue, k)
    low, high = m.bootstrap_ci(
        np.arange(len(lists)),
        resamples=resamples,
        seed=seed,
        statistic=lambda chosen: m.catalogue_coverage([lists[i] for i in chosen], catalogue, k),
    )
    results["coverage"] = {"value": coverage, "ci95": [low, high]}

    buckets: dict[str, dict[str, float]] = {}
    user_buckets = [_bucket(int(train_counts[u])) for u in users]
    for name, _, _ in ACTIVITY_BUCKETS:
        chosen = [i for i, b in enumerate(user_buckets) if b == name]
        if chosen:
            buckets[name] = {
                "users": len(chosen),
                "ndcg": float(np.mean([per_user["ndcg"][i] for i in chosen])),
                "recall": float(np.mean([per_user["recall"][i] for i in chosen])),
            }
    recommended_counts = popularity[[i for ranked in lists for i in ranked[:k]]]
    total = sum(served.strategies.values())
    return {
        "metrics": results,
        "curves": {name: (values / len(users)).tolist() for name, values in curves.items()},
        "activity_buckets": buckets,
        "strategy_share": {s: c / total for s, c in sorted(served.strategies.items())},
        "recommended_item_popularity": recommended_counts.tolist(),
        "users": len(users),
        "train_seconds": served.train_seconds,
    }


def run_evaluation(
    dataset: Path,
    *,
    k: int = 10,
    split_kind: str = "random",
    seed: int = 42,
    candidates: Sequence[Candidate] = CANDIDATES,
    lightfm_overrides: dict[str, Any] | None = None,
    config: Path | None = None,
    resamples: int = RESAMPLES,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Evaluates every candidate on one split; returns the JSON-ready report."""
    started = time.perf_counter()
    data = load_movielens(dataset)
    split = make_split(data, split_kind, seed)
    progress(
        f"split {split_kind}: {len(split.train):,} training events, {len(split.users):,} "
        "users evaluated"
    )
    count = max(k, CURVE_K)
    results = {}
    for candidate in candidates:
        progress(f"candidate: {candidate.label}")
        served = serve_candidate(
            data,
            split,
            candidate,
            count=count,
            lightfm_overrides=lightfm_overrides or {},
            config=config,
        )
        results[candidate.key] = {
            "label": candidate.label,
            **score_candidate(data, split, served, k=k, seed=seed, resamples=resamples),
        }
    consumed = np.bincount(split.train.positives().item, minlength=data.item_count)
    test_items = [i for u in split.users for i in split.relevant[u]]
    return {
        "dataset": str(dataset),
        "k": k,
        "seed": seed,
        "split": split_kind,
        "protocol": split.protocol,
        "bootstrap": f"95% percentile intervals over {resamples} resamples of the evaluated "
        f"users (seed {seed})",
        "counts": {
            "users": data.user_count,
            "items": data.item_count,
            "events": len(data.ratings),
            "training_events": len(split.train),
            "evaluated_users": len(split.users),
            "held_out_users": split.held_out_users,
            "held_out_items": split.held_out_items,
        },
        "settings": {"lightfm": {"num_threads": NUM_THREADS, **(lightfm_overrides or {})}},
        "metric_labels": {name: label for name, (label, _) in METRICS.items()},
        "candidates": results,
        "consumed_item_popularity": consumed[test_items].tolist(),
        "seconds": time.perf_counter() - started,
    }
