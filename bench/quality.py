"""Recommendation quality of InfoGap on MovieLens 100K, next to baselines measured in the same run.

Protocol (every figure comes from this one run, on splits drawn from ``seed``):

- Ratings of 4 stars or more are positives. Accuracy: a random 80/20 split of the positives;
  ratings below 4 are never targets and stay on the training side. Every candidate leaves out
  the items a user has on the training side (InfoGap's own "seen" set) and is scored with
  NDCG, precision and recall at k = 10 over the users with at least one test positive.
- Candidates: popularity (training positives per item), raw LightFM with library defaults on the
  binary training matrix (1 epoch, and InfoGap's epoch count), and InfoGap itself through its
  gRPC API with and without user attributes and item genres as features.
- Cold-start users: 20 % of the users held out entirely (their attributes are known); NDCG
  against all their positives. Freshness: those of them with at least 10 positives record
  their 5 earliest positives (no retraining) and are scored on the rest.
- Cold-start items: 20 % of the items held out entirely (their genres are known); RankItems
  over them, AUC per user against the held-out items the user did not rate.
- Training time: InfoGap's Train against a raw LightFM fit with the same hyper-parameters on
  the same matrices; optionally also on a synthetic catalogue of a million events.

The server runs in-process on a temporary data directory with its default settings except
LightFM's thread count (one thread makes LightFM deterministic for a fixed seed). The machine
is small and shared: timings are reported, never asserted, and no target fails the run.

    python -m bench.quality --dataset "$(../shared/datasets/fetch-movielens-100k)" [--large]
"""

from __future__ import annotations

import argparse
import inspect
import json
import operator
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from lightfm import LightFM

from infogap.client import Client
from infogap.plugins.lightfm_hybrid import LightFMConfig
from infogap.plugins.popularity import PopularityConfig
from infogap.server.assembly import build_server
from infogap.server.config import EventTypeSettings, Settings, load_settings
from infogap.server.evaluation.metrics import auc, ndcg_at_k, precision_at_k, recall_at_k

from .quality_data import (
    SYNTHETIC_EVENT_TYPES,
    Dataset,
    Events,
    PositiveSplit,
    load_movielens,
    random_mask,
    split_positives,
    synthetic_catalogue,
)

K = 10
TEST_FRACTION = 0.2
HOLD_OUT_FRACTION = 0.2
FRESH_EVENTS = 5
FRESH_MIN_POSITIVES = 10
TIMING_REPEATS = 3  # MovieLens trains in seconds, so its timings are medians of a few runs
NUM_THREADS = 1

Rankings = dict[int, list[int]]  # user index -> item indices, best first


def progress(message: str) -> None:
    print(f"[quality] {message}", file=sys.stderr, flush=True)


# --- metrics ----------------------------------------------------------------------------------


def ranking_metrics(
    rankings: Mapping[int, Sequence[int]], relevant: Mapping[int, Collection[int]], k: int = K
) -> dict[str, float]:
    """Means over the users of ``relevant`` (each with at least one relevant item)."""
    users = sorted(relevant)

    def mean(metric: Callable[[Sequence[int], Collection[int], int], float]) -> float:
        return statistics.fmean(metric(rankings[u], relevant[u], k) for u in users)

    return {
        f"ndcg@{k}": mean(ndcg_at_k),
        f"precision@{k}": mean(precision_at_k),
        f"recall@{k}": mean(recall_at_k),
        "users": len(users),
    }


# --- numpy candidates -------------------------------------------------------------------------


def top_k(
    scores: np.ndarray,
    users: Sequence[int],
    excluded: Mapping[int, Collection[int]],
    k: int = K,
) -> Rankings:
    """Each user's k best items, leaving out their excluded ones. ``scores`` has a row per user,
    or is one row shared by every user."""
    rankings = {}
    for user in users:
        row = np.array(scores[user] if scores.ndim == 2 else scores, dtype=float)
        row[list(excluded.get(user, ()))] = -np.inf
        best = np.argpartition(-row, k)[:k]
        rankings[user] = best[np.argsort(-row[best], kind="stable")].tolist()
    return rankings


def popularity_scores(positives: Events, item_count: int) -> np.ndarray:
    return np.bincount(positives.item, minlength=item_count).astype(float)


def lightfm_default_scores(
    positives: Events, shape: tuple[int, int], epochs: int, seed: int
) -> np.ndarray:
    """LightFM with every hyper-parameter at the library default (only the seed is fixed), fit
    on the binary (users x items) matrix without features; a row of predicted scores per user."""
    user_count, item_count = shape
    matrix = sp.coo_matrix(
        (np.ones(len(positives), dtype=np.float32), (positives.user, positives.item)), shape=shape
    )
    model = LightFM(random_state=seed)
    model.fit(matrix, epochs=epochs, num_threads=NUM_THREADS)
    users = np.repeat(np.arange(user_count, dtype=np.int32), item_count)
    items = np.tile(np.arange(item_count, dtype=np.int32), user_count)
    return model.predict(users, items, num_threads=NUM_THREADS).reshape(user_count, item_count)


def genre_affinity_scores(data: Dataset, positives: Events) -> np.ndarray:
    """A content-only reference for cold items: how often each user liked each item's genres."""
    genres = sorted({g for item_genres in data.item_tags for g in item_genres})
    column = {g: i for i, g in enumerate(genres)}
    item_genres = np.zeros((data.item_count, len(genres)))
    for item, names in enumerate(data.item_tags):
        item_genres[item, [column[g] for g in names]] = 1.0
    liked = sp.coo_matrix(
        (np.ones(len(positives)), (positives.user, positives.item)),
        shape=(data.user_count, data.item_count),
    )
    user_genres = liked @ item_genres
    return user_genres @ item_genres.T


# --- InfoGap through its API ------------------------------------------------------------------


# Settings sections that shape what is recommended (the others are addresses, paths, limits).
REPORTED_SETTINGS = ("features", "serving", "lifecycle")
# The built-in plugins' own options, reported with their defaults as the plugins see them.
PLUGIN_CONFIGS = {"lightfm": LightFMConfig, "popularity": PopularityConfig}


def quality_settings(data_dir: Path = Path("data")) -> Settings:
    """The server's defaults (config file and INFOGAP_* variables apply) but LightFM's threads."""
    return load_settings(
        data_dir=data_dir, host="127.0.0.1", port=0, lightfm={"num_threads": NUM_THREADS}
    )


def settings_report(settings: Settings) -> dict[str, dict[str, Any]]:
    dumped = settings.model_dump(mode="json")
    report = {name: dumped[name] for name in REPORTED_SETTINGS if name in dumped}
    for name, config in PLUGIN_CONFIGS.items():
        report[name] = config.model_validate(getattr(settings, name)).model_dump(mode="json")
    report["event_types.rating"] = dumped["event_types"]["rating"]
    return report


@contextmanager
def infogap_client() -> Iterator[Client]:
    """A client of a fresh in-process server on a temporary data directory."""
    with (
        tempfile.TemporaryDirectory(prefix="infogap-quality-") as data_dir,
        serving_client(quality_settings(Path(data_dir))) as client,
    ):
        yield client


@contextmanager
def serving_client(settings: Settings) -> Iterator[Client]:
    """A client of an in-process server started with ``settings``, stopped afterwards."""
    server = build_server(settings).start()
    try:
        with Client(server.address, timeout=60) as client:
            yield client
    finally:
        server.stop(grace=0)


def send_movielens(
    client: Client,
    data: Dataset,
    ratings: Events,
    *,
    user_attributes: bool = True,
    item_genres: bool = True,
) -> None:
    """Every user and item (their features only if asked for) and the given ratings."""
    client.upsert_users(data.user_entities(with_attributes=user_attributes))
    client.upsert_items(data.item_entities(with_features=item_genres))
    client.record(data.event_messages(ratings))


def recommend_all(
    client: Client,
    data: Dataset,
    users: Sequence[int],
    excluded: Mapping[int, Collection[int]] | None = None,
) -> tuple[Rankings, dict[str, int]]:
    """Recommend for each user; also counts which strategy answered."""
    excluded = excluded or {}
    rankings, strategies = {}, Counter()
    for user in users:
        response = client.recommend(
            data.user_ids[user],
            count=K,
            exclude_item_ids=[data.item_ids[i] for i in excluded.get(user, ())],
        )
        rankings[user] = [data.item_position[item.item_id] for item in response.items]
        strategies[response.strategy] += 1
    return rankings, dict(strategies)


# --- LightFM as InfoGap feeds it, for the training-time comparison ----------------------------


@dataclass(frozen=True)
class HybridInputs:
    interactions: sp.coo_matrix  # 1 for every (user, item) pair with a positive signal
    sample_weight: sp.coo_matrix  # the summed signal of those pairs
    user_features: sp.csr_matrix
    item_features: sp.csr_matrix


def signal_weights(event_type: EventTypeSettings, values: np.ndarray) -> np.ndarray:
    """The training signal of events of one type, by the rule config.EventTypeSettings states."""
    if event_type.positive_from is None:
        return np.full(len(values), event_type.weight)
    above = values - event_type.positive_from + 1
    return np.where(values >= event_type.positive_from, event_type.weight * above, 0.0)


def identity_and_features(rows: Sequence[Sequence[str]]) -> sp.csr_matrix:
    """An identity column per row, then one column per named feature; rows sum to one."""
    names = {name: i for i, name in enumerate(sorted({n for row in rows for n in row}))}
    row_of = [r for r, row in enumerate(rows) for _ in row]
    column_of = [len(rows) + names[n] for row in rows for n in row]
    identity = np.arange(len(rows))
    matrix = sp.csr_matrix(
        (
            np.ones(len(rows) + len(row_of), dtype=np.float32),
            (np.concatenate([identity, row_of]), np.concatenate([identity, column_of])),
        ),
        shape=(len(rows), len(rows) + len(names)),
    )
    return sp.csr_matrix(sp.diags(1.0 / matrix.sum(axis=1).A.ravel()) @ matrix, dtype=np.float32)


def hybrid_inputs(
    users: np.ndarray,
    items: np.ndarray,
    weights: np.ndarray,
    user_features: Sequence[Sequence[str]],
    item_features: Sequence[Sequence[str]],
) -> HybridInputs:
    """The matrices InfoGap's README and plugin describe: signals summed per (user, item), pairs
    with a positive sum kept, users without any dropped, every catalogue item kept."""
    summed = sp.csr_matrix(
        (weights.astype(np.float32), (users, items)),
        shape=(len(user_features), len(item_features)),
    )  # duplicates are summed
    summed.data[summed.data <= 0] = 0
    summed.eliminate_zeros()
    active_users = np.flatnonzero(np.diff(summed.indptr))
    summed = summed[active_users].tocoo()
    return HybridInputs(
        interactions=sp.coo_matrix(
            (np.ones_like(summed.data), (summed.row, summed.col)), shape=summed.shape
        ),
        sample_weight=summed,
        user_features=identity_and_features([user_features[u] for u in active_users]),
        item_features=identity_and_features(item_features),
    )


def fit_seconds(inputs: HybridInputs, settings: LightFMConfig) -> float:
    """Wall time of a raw LightFM fit with InfoGap's hyper-parameters."""
    parameters = settings.model_dump()
    accepted = inspect.signature(LightFM).parameters
    model = LightFM(**{name: value for name, value in parameters.items() if name in accepted})
    started = time.perf_counter()
    model.fit(
        inputs.interactions,
        user_features=inputs.user_features,
        item_features=inputs.item_features,
        sample_weight=inputs.sample_weight,
        epochs=settings.epochs,
        num_threads=settings.num_threads,
    )
    return time.perf_counter() - started


def timing_figures(train_responses: Sequence[Any], raw_fit_seconds: Sequence[float]) -> dict:
    infogap_total = statistics.median(r.total_seconds for r in train_responses)
    infogap_fit = statistics.median(
        m.training_seconds for r in train_responses for m in r.models if m.strategy == "lightfm"
    )
    raw = statistics.median(raw_fit_seconds)
    return {
        "infogap_train_total_seconds": infogap_total,
        "infogap_lightfm_training_seconds": infogap_fit,
        "raw_lightfm_fit_seconds": raw,
        "ratio": infogap_total / raw,
        "runs": len(train_responses),
    }


# --- scenarios --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    user_attributes: bool
    item_genres: bool


INFOGAP_VARIANTS = (
    Variant("infogap", "InfoGap (user attributes + item genres)", True, True),
    Variant("infogap_no_user_attributes", "InfoGap, no user attributes", False, True),
    Variant("infogap_no_item_genres", "InfoGap, no item genres", True, False),
    Variant("infogap_no_features", "InfoGap, no features", False, False),
)


def accuracy(data: Dataset, split: PositiveSplit, settings: Settings, seed: int) -> dict:
    relevant = split.test.items_by_user()
    seen = split.train.items_by_user()
    users = sorted(relevant)
    train_positives = split.train_positives()
    infogap_epochs = LightFMConfig.model_validate(settings.lightfm).epochs

    def lightfm_defaults(epochs: int) -> Rankings:
        shape = (data.user_count, data.item_count)
        return top_k(lightfm_default_scores(train_positives, shape, epochs, seed), users, seen)

    # LightFM.fit's own default is one epoch; InfoGap's count makes the comparison fair.
    candidates = {
        "popularity": (
            "popularity (training positives)",
            top_k(popularity_scores(train_positives, data.item_count), users, seen),
        ),
        "lightfm_defaults_1_epoch": ("LightFM defaults, 1 epoch", lightfm_defaults(1)),
        "lightfm_defaults_infogap_epochs": (
            f"LightFM defaults, {infogap_epochs} epochs",
            lightfm_defaults(infogap_epochs),
        ),
    }
    results = {
        key: {"label": label, **ranking_metrics(rankings, relevant)}
        for key, (label, rankings) in candidates.items()
    }
    for variant in INFOGAP_VARIANTS:
        progress(f"accuracy: {variant.label}")
        with infogap_client() as client:
            send_movielens(
                client,
                data,
                split.train,
                user_attributes=variant.user_attributes,
                item_genres=variant.item_genres,
            )
            client.train()
            rankings, strategies = recommend_all(client, data, users)
        results[variant.key] = {
            "label": variant.label,
            **ranking_metrics(rankings, relevant),
            "strategies": strategies,
        }
    return {
        "train_positives": len(train_positives),
        "test_positives": len(split.test),
        "candidates": results,
    }


def cold_users_and_freshness(data: Dataset, seed: int) -> tuple[dict, dict]:
    """One server trained without the held-out users serves both scenarios: first the held-out
    users as they come (attributes only), then the freshness check on some of them."""
    held_out = random_mask(data.user_count, HOLD_OUT_FRACTION, seed)
    known_ratings = data.events.where(~held_out[data.events.user])
    cold_positives = data.events.where(held_out[data.events.user]).positives()
    relevant = cold_positives.items_by_user()
    popularity = popularity_scores(known_ratings.positives(), data.item_count)

    fresh_users = sorted(u for u, items in relevant.items() if len(items) >= FRESH_MIN_POSITIVES)
    recorded: dict[int, Events] = {}
    rest: dict[int, set[int]] = {}
    for user in fresh_users:
        theirs = cold_positives.where(cold_positives.user == user)
        by_time = np.lexsort((theirs.item, theirs.time_us))
        recorded[user] = theirs.where(by_time[:FRESH_EVENTS])
        rest[user] = set(theirs.item[by_time[FRESH_EVENTS:]].tolist())
    recorded_items = {user: ratings.item.tolist() for user, ratings in recorded.items()}

    with infogap_client() as client:
        send_movielens(client, data, known_ratings)
        client.train()
        cold_rankings, cold_strategies = recommend_all(client, data, sorted(relevant))
        # The same users before they act, with the items they are about to rate left out.
        before_rankings, before_strategies = recommend_all(
            client, data, fresh_users, recorded_items
        )
        client.record([e for ratings in recorded.values() for e in data.event_messages(ratings)])
        after_rankings, after_strategies = recommend_all(client, data, fresh_users)

    cold_users = {
        "held_out_users": int(held_out.sum()),
        "infogap": {**ranking_metrics(cold_rankings, relevant), "strategies": cold_strategies},
        "popularity": ranking_metrics(top_k(popularity, sorted(relevant), {}), relevant),
    }
    freshness = {
        "recorded_events_per_user": FRESH_EVENTS,
        "infogap": {**ranking_metrics(after_rankings, rest), "strategies": after_strategies},
        "infogap_before_events": {
            **ranking_metrics(before_rankings, rest),
            "strategies": before_strategies,
        },
        "popularity": ranking_metrics(top_k(popularity, fresh_users, recorded_items), rest),
    }
    return cold_users, freshness


def cold_items(data: Dataset, seed: int) -> dict:
    held_out = random_mask(data.item_count, HOLD_OUT_FRACTION, seed)
    training = data.events.where(~held_out[data.events.item])
    held_out_ratings = data.events.where(held_out[data.events.item])
    positives = held_out_ratings.positives().items_by_user()
    rated = held_out_ratings.items_by_user()
    candidates = np.flatnonzero(held_out).tolist()
    candidate_ids = [data.item_ids[i] for i in candidates]
    genre_scores = genre_affinity_scores(data, training.positives())

    def user_auc(user: int, score_of: Mapping[int, float]) -> float:
        negatives = [i for i in candidates if i not in rated[user]]
        return auc([score_of[i] for i in positives[user]], [score_of[i] for i in negatives])

    infogap_aucs, genre_aucs, strategies = [], [], Counter()
    with infogap_client() as client:
        send_movielens(client, data, training)
        client.train()
        for user in sorted(positives):
            response = client.rank_items(data.user_ids[user], candidate_ids)
            strategies[response.strategy] += 1
            infogap_aucs.append(
                user_auc(user, {data.item_position[i.item_id]: i.score for i in response.items})
            )
            genre_aucs.append(user_auc(user, dict(enumerate(genre_scores[user]))))
    return {
        "held_out_items": len(candidates),
        "users": len(infogap_aucs),
        "infogap_auc": statistics.fmean(infogap_aucs),
        "genre_affinity_auc": statistics.fmean(genre_aucs),
        "strategies": dict(strategies),
    }


def training_time_movielens(data: Dataset, split: PositiveSplit, settings: Settings) -> dict:
    inputs = hybrid_inputs(
        split.train.user,
        split.train.item,
        signal_weights(settings.event_types["rating"], split.train.value),
        [[f"{k}={v}" for k, v in sorted(a.items())] for a in data.user_attributes],
        [[f"tag={g}" for g in genres] for genres in data.item_tags],
    )
    responses, raw = [], []
    with infogap_client() as client:
        send_movielens(client, data, split.train)
        # Alternated, so that a burst of load on the shared machine hits both sides alike.
        for _ in range(TIMING_REPEATS):
            responses.append(client.train())
            raw.append(fit_seconds(inputs, LightFMConfig.model_validate(settings.lightfm)))
    return {**timing_figures(responses, raw), "interactions": int(inputs.interactions.nnz)}


def training_time_large(seed: int, settings: Settings) -> dict:
    catalogue = synthetic_catalogue(seed)
    with infogap_client() as client:
        client.upsert_users(catalogue.user_entities())
        client.upsert_items(catalogue.item_entities())
        started = time.perf_counter()
        streamed = client.stream_events(catalogue.event_batches())
        load_seconds = time.perf_counter() - started
        response = client.train()
    type_weights = np.array([settings.event_types[t].weight for t in SYNTHETIC_EVENT_TYPES])
    inputs = hybrid_inputs(
        catalogue.event_user,
        catalogue.event_item,
        type_weights[catalogue.event_type],
        [
            [f"{k}={v}" for k, v in sorted(catalogue.user_attributes(u).items())]
            for u in range(catalogue.user_count)
        ],
        [[f"tag={t}" for t in tags] for tags in catalogue.item_tags],
    )
    return {
        **timing_figures(
            [response], [fit_seconds(inputs, LightFMConfig.model_validate(settings.lightfm))]
        ),
        "events": int(streamed.stored_count),
        "users": catalogue.user_count,
        "items": catalogue.item_count,
        "interactions": int(inputs.interactions.nnz),
        "stream_events_seconds": load_seconds,
    }


# --- targets and report -----------------------------------------------------------------------

COMPARISONS = {">=": operator.ge, ">": operator.gt, "<=": operator.le}


def target(name: str, value: float, comparison: str, threshold: float) -> dict:
    return {
        "name": name,
        "value": value,
        "comparison": comparison,
        "threshold": threshold,
        "met": COMPARISONS[comparison](value, threshold),
    }


def targets_of(figures: dict) -> list[dict]:
    ndcg = f"ndcg@{K}"
    accuracy_ = figures["accuracy"]["candidates"]
    infogap = accuracy_["infogap"][ndcg]
    lightfm_1, lightfm_n = (
        accuracy_[key] for key in ("lightfm_defaults_1_epoch", "lightfm_defaults_infogap_epochs")
    )
    cold_users = figures["cold_users"]
    freshness = figures["freshness"]
    targets = [
        target("accuracy: InfoGap NDCG@10 >= 0.25", infogap, ">=", 0.25),
        target(
            "accuracy: InfoGap NDCG@10 >= 1.6 x popularity",
            infogap,
            ">=",
            1.6 * accuracy_["popularity"][ndcg],
        ),
        target(f"accuracy: InfoGap >= {lightfm_1['label']}", infogap, ">=", lightfm_1[ndcg]),
        target(f"accuracy: InfoGap >= {lightfm_n['label']}", infogap, ">=", lightfm_n[ndcg]),
        target(
            "cold users: InfoGap NDCG@10 >= popularity",
            cold_users["infogap"][ndcg],
            ">=",
            cold_users["popularity"][ndcg],
        ),
        target("cold items: InfoGap AUC >= 0.65", figures["cold_items"]["infogap_auc"], ">=", 0.65),
        target(
            "freshness: InfoGap NDCG@10 > popularity",
            freshness["infogap"][ndcg],
            ">",
            freshness["popularity"][ndcg],
        ),
    ]
    for name, timing in figures["training_time"].items():
        name = f"training time {name}: InfoGap / raw LightFM <= 1.3"
        targets.append(target(name, timing["ratio"], "<=", 1.3))
    return targets


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    def cell(value: Any) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    def line(values: Sequence[str]) -> str:
        # The first column is text, the others are figures.
        aligned = [values[0].ljust(widths[0])]
        aligned += [v.rjust(w) for v, w in zip(values[1:], widths[1:])]
        return "  " + "  ".join(aligned)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(row[c]) for row in [list(header), *cells]) for c in range(len(header))]
    print(f"\n{title}")
    print(line(header))
    print(line(["-" * w for w in widths]))
    for row in cells:
        print(line(row))


def _strategies(figures: Mapping[str, Any]) -> str:
    return ", ".join(f"{name} {count}" for name, count in figures.get("strategies", {}).items())


METRIC_HEADER = ("candidate", f"NDCG@{K}", f"P@{K}", f"R@{K}", "users", "answered by")


def _metric_row(label: str, figures: Mapping[str, Any]) -> list[Any]:
    return [
        label,
        figures[f"ndcg@{K}"],
        figures[f"precision@{K}"],
        figures[f"recall@{K}"],
        figures["users"],
        _strategies(figures),
    ]


def print_report(figures: dict) -> None:
    print(f"InfoGap recommendation quality: MovieLens 100K, seed {figures['seed']}, k = {K}")
    print(f"server settings: the defaults, except lightfm.num_threads = {NUM_THREADS}")
    for section, values in figures["settings"].items():
        print(f"  {section}: " + ", ".join(f"{k}={v}" for k, v in values.items()))

    accuracy_ = figures["accuracy"]
    print_table(
        f"Accuracy: random 80/20 split of the positives ({accuracy_['train_positives']:,} train, "
        f"{accuracy_['test_positives']:,} test), training items left out",
        METRIC_HEADER,
        [_metric_row(c["label"], c) for c in accuracy_["candidates"].values()],
    )
    cold_users = figures["cold_users"]
    print_table(
        f"Cold-start users: {cold_users['held_out_users']} users held out, attributes only; "
        "targets are all their positives",
        METRIC_HEADER,
        [
            _metric_row("InfoGap", cold_users["infogap"]),
            _metric_row("popularity (training users)", cold_users["popularity"]),
        ],
    )
    freshness = figures["freshness"]
    print_table(
        f"Freshness: held-out users with >= {FRESH_MIN_POSITIVES} positives record their "
        f"{FRESH_EVENTS} earliest (no retraining); targets are the rest",
        METRIC_HEADER,
        [
            _metric_row("InfoGap after the events", freshness["infogap"]),
            _metric_row("InfoGap before them (reference)", freshness["infogap_before_events"]),
            _metric_row("popularity (without those items)", freshness["popularity"]),
        ],
    )
    items = figures["cold_items"]
    print_table(
        f"Cold-start items: {items['held_out_items']} items held out, genres only; RankItems "
        f"over them for {items['users']} users",
        ("candidate", "AUC", "answered by"),
        [
            ["InfoGap", items["infogap_auc"], _strategies(items)],
            ["genre affinity, numpy (reference)", items["genre_affinity_auc"], ""],
            ["random (reference)", 0.5, ""],
        ],
    )
    print_table(
        "Training time, same hyper-parameters and matrices (seconds, median of the runs)",
        ("data", "interactions", "runs", "InfoGap Train", "its LightFM step", "raw fit", "ratio"),
        [
            [
                name,
                f"{timing['interactions']:,}",
                timing["runs"],
                timing["infogap_train_total_seconds"],
                timing["infogap_lightfm_training_seconds"],
                timing["raw_lightfm_fit_seconds"],
                timing["ratio"],
            ]
            for name, timing in figures["training_time"].items()
        ],
    )
    large = figures["training_time"].get("synthetic_1m")
    if large:
        print(
            f"  synthetic_1m: {large['events']:,} events streamed in "
            f"{large['stream_events_seconds']:.1f} s ({large['users']:,} users, "
            f"{large['items']:,} items)"
        )
    print("\nTargets (information only)")
    for t in figures["targets"]:
        verdict = "PASS" if t["met"] else "MISS"
        print(f"  {verdict}  {t['name']}: {t['value']:.3f} {t['comparison']} {t['threshold']:.3f}")
    print(f"\nrun time {figures['seconds']:.0f} s")


# --- entry point ------------------------------------------------------------------------------


def run_quality(dataset: Path, *, include_large: bool, seed: int = 42) -> dict:
    """Runs every scenario, prints the report and returns the figures (JSON-ready)."""
    started = time.perf_counter()
    settings = quality_settings()
    data = load_movielens(dataset)
    split = split_positives(data.events, TEST_FRACTION, seed)
    figures: dict[str, Any] = {"seed": seed, "k": K, "settings": settings_report(settings)}
    progress("accuracy")
    figures["accuracy"] = accuracy(data, split, settings, seed)
    progress("cold-start users and freshness")
    figures["cold_users"], figures["freshness"] = cold_users_and_freshness(data, seed)
    progress("cold-start items")
    figures["cold_items"] = cold_items(data, seed)
    progress("training time on MovieLens")
    figures["training_time"] = {"movielens": training_time_movielens(data, split, settings)}
    if include_large:
        progress("training time on 1M synthetic events (minutes)")
        figures["training_time"]["synthetic_1m"] = training_time_large(seed, settings)
    figures["targets"] = targets_of(figures)
    figures["seconds"] = time.perf_counter() - started
    print_report(figures)
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.quality", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--dataset", type=Path, required=True, help="folder printed by fetch-movielens-100k"
    )
    parser.add_argument(
        "--large", action="store_true", help="also time training on 1M synthetic events (minutes)"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    figures = run_quality(args.dataset, include_large=args.large, seed=args.seed)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
