"""Runs candidates side by side through the serving path production uses: a real in-process
InfoGapServer per candidate on a temporary data directory, users, items and training events
sent through the SDK, Train, then Recommend (or RankItems, for cold items) per test user.

The data set comes from MovieLens-style CSVs (``run_evaluation``) or from a server's own store
(``evaluate_store``); both go through ``evaluate_dataset``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from infogap.plugins.lightfm_hybrid import LightFMConfig
from infogap.server.config import Settings, load_settings
from infogap.server.core.errors import FailedPrecondition, InvalidArgument
from infogap.server.core.plugins.host import BUILTIN_SOURCE
from infogap.server.core.store import Store
from infogap.server.evaluation import metrics as m
from infogap.server.evaluation.data import Dataset, load_movielens, load_store_history
from infogap.server.evaluation.privacy import (
    PLUGIN,
    PrivacyCurve,
    measure_privacy,
    privacy_plugin_available,
)
from infogap.server.evaluation.servers import (
    PERSONAL_MODEL_PLUGINS,
    Rankings,
    send_dataset,
    serve_split,
    throwaway_client,
)
from infogap.server.evaluation.splits import SPLITS, EvaluationSplit, make_split

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
    disabled_plugins: tuple[str, ...] = ()  # besides those the settings disable
    user_attributes: bool = True
    item_features: bool = True  # tags and attributes
    strategy_order: tuple[str, ...] = ()  # the serving fallback order; () the settings'


def alone(plugin: str, strategy: str, label: str) -> Candidate:
    """A candidate serving one built-in model, popularity behind it (the other personal
    models off, so that none answers in its place)."""
    return Candidate(
        strategy,
        label,
        disabled_plugins=tuple(p for p in PERSONAL_MODEL_PLUGINS if p != plugin),
        strategy_order=(strategy, "popularity"),
    )


# The LightFM candidates measure LightFM: the other personal models are not trained for them.
WITHOUT_OTHER_MODELS = tuple(p for p in PERSONAL_MODEL_PLUGINS if p != "lightfm")

CANDIDATES = (
    Candidate(
        "popularity",
        "Popularity (personal model plugins disabled)",
        disabled_plugins=PERSONAL_MODEL_PLUGINS,
    ),
    Candidate("lightfm", "LightFM, current settings", disabled_plugins=WITHOUT_OTHER_MODELS),
    Candidate(
        "lightfm_bpr", "LightFM, loss bpr", {"loss": "bpr"}, disabled_plugins=WITHOUT_OTHER_MODELS
    ),
    Candidate(
        "lightfm_16",
        "LightFM, no_components 16",
        {"no_components": 16},
        disabled_plugins=WITHOUT_OTHER_MODELS,
    ),
    Candidate(
        "lightfm_no_user_features",
        "LightFM, no user features",
        user_attributes=False,
        disabled_plugins=WITHOUT_OTHER_MODELS,
    ),
    Candidate(
        "lightfm_no_item_features",
        "LightFM, no item features",
        item_features=False,
        disabled_plugins=WITHOUT_OTHER_MODELS,
    ),
    alone("ease", "ease", "EASE, then popularity"),
    alone("item_knn", "item_knn", "Item-kNN cosine, then popularity"),
    alone("item_knn", "item_knn_bm25", "Item-kNN BM25, then popularity"),
    alone("als", "als", "implicit ALS, then popularity"),
)


@dataclass(frozen=True)
class Served:
    rankings: Rankings
    strategies: Counter
    train_seconds: float


def serve_candidate(
    data: Dataset,
    split: EvaluationSplit,
    candidate: Candidate,
    *,
    count: int,
    settings: Settings,
    lightfm_overrides: dict[str, Any],
) -> Served:
    overrides: dict[str, dict[str, Any]] = {
        "lightfm": {"num_threads": NUM_THREADS, **lightfm_overrides, **candidate.lightfm},
        "plugins": {"disabled": [*settings.plugins.disabled, *candidate.disabled_plugins]},
    }
    if candidate.strategy_order:
        overrides["serving"] = {"strategy_order": list(candidate.strategy_order)}
    with throwaway_client(settings, overrides) as client:
        send_dataset(
            client,
            data,
            split.train,
            user_attributes=candidate.user_attributes,
            item_features=candidate.item_features,
        )
        started = time.perf_counter()
        client.train()
        train_seconds = time.perf_counter() - started
        rankings, strategies = serve_split(client, data, split, count)
    return Served(rankings, strategies, train_seconds)


def _bucket(count: int) -> str:
    for name, low, high in ACTIVITY_BUCKETS:
        if count >= low and (high is None or count <= high):
            return name
    raise AssertionError(count)


def score_candidate(
    data: Dataset,
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
    tags = dict(enumerate(data.item_tags))
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


PLUGIN_CANDIDATE_PREFIX = "plugin:"


def plugin_candidates(settings: Settings) -> tuple[Candidate, ...]:
    """A candidate per model that an installed third-party plugin registers: that model first,
    popularity behind it. Found by asking a throwaway server configured by ``settings``
    (``ListPlugins``), so exactly the plugins production would load take part."""
    with throwaway_client(settings) as client:
        plugins = client.list_plugins().plugins
    found = []
    for plugin in plugins:
        if not plugin.enabled or plugin.source == BUILTIN_SOURCE:
            continue
        for provided in plugin.provides:
            kind, _, strategy = provided.partition(":")
            if kind == "model":
                found.append(
                    Candidate(
                        f"{PLUGIN_CANDIDATE_PREFIX}{strategy}",
                        f"Plugin {plugin.name}: {strategy}, then popularity",
                        disabled_plugins=PERSONAL_MODEL_PLUGINS,
                        strategy_order=(strategy, "popularity"),
                    )
                )
    return tuple(found)


def available_candidates(settings: Settings) -> tuple[Candidate, ...]:
    """The built-in candidates, then those of installed plugins."""
    return CANDIDATES + plugin_candidates(settings)


def candidates_named(
    keys: Sequence[str] | None, available: Sequence[Candidate] = CANDIDATES
) -> tuple[Candidate, ...]:
    """The candidates of ``keys``, in ``available``'s order; all of them for None.

    :raises InvalidArgument: for an unknown key or an empty list.
    """
    if keys is None:
        return tuple(available)
    known = [c.key for c in available]
    unknown = sorted(set(keys) - set(known))
    if unknown or not keys:
        raise InvalidArgument(
            "candidates",
            f"unknown {', '.join(unknown) or '(none given)'}; one of {', '.join(known)}",
        )
    return tuple(c for c in available if c.key in set(keys))


def evaluate_dataset(
    data: Dataset,
    *,
    source_label: str,
    settings: Settings,
    k: int = 10,
    split_kind: str = "random",
    seed: int = 42,
    candidates: Sequence[Candidate] | None = None,
    lightfm_overrides: dict[str, Any] | None = None,
    resamples: int = RESAMPLES,
    max_users: int | None = None,
    privacy: PrivacyCurve | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Evaluates every candidate (None: ``available_candidates``) on one split of ``data``;
    returns the JSON-ready report.

    ``settings`` are the candidate servers' (see ``servers.server_settings``); ``max_users``
    evaluates a random sample (from ``seed``) of the users with test positives; ``privacy``
    adds the epsilon-vs-quality section.

    :raises FailedPrecondition: when no user has a test positive.
    """
    started = time.perf_counter()
    full_split = make_split(data, split_kind, seed)
    split = full_split.sampled(max_users, seed)
    if not split.users:
        raise FailedPrecondition(
            f"nothing to evaluate in {source_label}: no user has a positive held out by the "
            f"{split_kind} split ({len(data.events):,} events)"
        )
    progress(
        f"split {split_kind}: {len(split.train):,} training events, {len(split.users):,} "
        f"of {len(full_split.users):,} users evaluated"
    )
    count = max(k, CURVE_K)
    results = {}
    for candidate in candidates if candidates is not None else available_candidates(settings):
        progress(f"candidate: {candidate.label}")
        served = serve_candidate(
            data,
            split,
            candidate,
            count=count,
            settings=settings,
            lightfm_overrides=lightfm_overrides or {},
        )
        results[candidate.key] = {
            "label": candidate.label,
            **score_candidate(data, split, served, k=k, seed=seed, resamples=resamples),
        }
    consumed = np.bincount(split.train.positives().item, minlength=data.item_count)
    test_items = [i for u in split.users for i in split.relevant[u]]
    report = {
        "dataset": source_label,
        "k": k,
        "seed": seed,
        "split": split_kind,
        "protocol": split.protocol,
        "bootstrap": f"95% percentile intervals over {resamples} resamples of the evaluated "
        f"users (seed {seed})",
        "counts": {
            "users": data.user_count,
            "items": data.item_count,
            "events": len(data.events),
            "positive_events": int(data.events.positive.sum()),
            "training_events": len(split.train),
            "evaluable_users": len(full_split.users),
            "evaluated_users": len(split.users),
            "held_out_users": split.held_out_users,
            "held_out_items": split.held_out_items,
        },
        "settings": {
            "lightfm": {
                **LightFMConfig.model_validate(settings.lightfm).model_dump(mode="json"),
                "num_threads": NUM_THREADS,
                **(lightfm_overrides or {}),
            },
            "event_types": {
                name: event_type.model_dump(mode="json")
                for name, event_type in settings.event_types.items()
                if name in data.event_types
            },
        },
        "metric_labels": {name: label for name, (label, _) in METRICS.items()},
        "candidates": results,
        "consumed_item_popularity": consumed[test_items].tolist(),
    }
    if privacy is not None:
        # The popularity list cannot rank items it has never seen: on cold items, the curve is
        # measured on the random split instead.
        privacy_split = (
            split
            if split.candidate_items is None
            else make_split(data, "random", seed).sampled(max_users, seed)
        )
        report["privacy"] = measure_privacy(
            data,
            privacy_split,
            settings,
            k=k,
            curve=privacy,
            progress=lambda message: progress(f"privacy: {message}"),
        )
    report["seconds"] = time.perf_counter() - started
    return report


def run_evaluation(
    dataset: Path,
    *,
    k: int = 10,
    split_kind: str = "random",
    seed: int = 42,
    candidates: Sequence[Candidate] | None = None,
    lightfm_overrides: dict[str, Any] | None = None,
    config: Path | None = None,
    resamples: int = RESAMPLES,
    max_users: int | None = None,
    privacy: PrivacyCurve | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Evaluates the candidates on a MovieLens-style folder, with servers configured by
    ``config`` (and INFOGAP_* variables) as ``infogap serve`` would be."""
    return evaluate_dataset(
        load_movielens(dataset),
        source_label=str(dataset),
        settings=load_settings(config),
        k=k,
        split_kind=split_kind,
        seed=seed,
        candidates=candidates,
        lightfm_overrides=lightfm_overrides,
        resamples=resamples,
        max_users=max_users,
        privacy=privacy,
        progress=progress,
    )


def evaluate_store(
    store: Store,
    catalog: str,
    settings: Settings,
    *,
    k: int = 10,
    split_kind: str = "random",
    seed: int = 42,
    candidate_keys: Sequence[str] | None = None,
    max_users: int | None = None,
    include_privacy: bool = False,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Evaluates the candidates on the stored history of ``catalog`` (read-only), each in a
    throwaway server configured like this one (``settings``; see ``servers.server_settings``).

    :raises InvalidArgument: for an unknown split or candidate key, or ``k``/``max_users`` < 1.
    :raises FailedPrecondition: when the catalog has nothing to evaluate, or the privacy curve
        is asked for without the differential_privacy plugin.
    """
    if split_kind not in SPLITS:
        raise InvalidArgument("split", f"unknown split {split_kind!r}; one of {', '.join(SPLITS)}")
    if k < 1:
        raise InvalidArgument("k", "must be at least 1")
    if max_users is not None and max_users < 1:
        raise InvalidArgument("max_users", "must be at least 1 (or unset for every user)")
    candidates = candidates_named(candidate_keys, available_candidates(settings))
    if include_privacy and not privacy_plugin_available(settings):
        raise FailedPrecondition(f"the {PLUGIN} plugin is not installed or is disabled")
    return evaluate_dataset(
        load_store_history(store, catalog, settings),
        source_label=f"catalog {catalog!r} of {store.data_dir}",
        settings=settings,
        k=k,
        split_kind=split_kind,
        seed=seed,
        candidates=candidates,
        max_users=max_users,
        privacy=PrivacyCurve() if include_privacy else None,
        progress=progress,
    )
