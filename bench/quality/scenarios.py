"""The quality scenarios: accuracy, cold-start users and freshness, cold-start items, training time."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from infogap.plugins.lightfm_hybrid import LightFMConfig
from infogap.server.config import Settings
from infogap.server.evaluation.metrics import auc

from .baselines import (
    genre_affinity_scores,
    popularity_scores,
    ranking_metrics,
    top_k,
)
from .data import (
    SYNTHETIC_EVENT_TYPES,
    Dataset,
    Events,
    PositiveSplit,
    random_mask,
    synthetic_catalogue,
)
from .protocol import (
    FRESH_EVENTS,
    FRESH_MIN_POSITIVES,
    HOLD_OUT_FRACTION,
    TIMING_REPEATS,
    progress,
)
from .protocols import baseline_figures
from .through_api import (
    fit_seconds,
    hybrid_inputs,
    infogap_client,
    recommend_all,
    send_movielens,
    signal_weights,
    timing_figures,
)

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
    users = sorted(relevant)
    train_positives = split.train_positives()
    results: dict[str, dict] = {}
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
            trained = client.train()
            rankings, strategies = recommend_all(client, data, users)
        results[variant.key] = {
            "label": variant.label,
            **ranking_metrics(rankings, relevant),
            "strategies": strategies,
            "train_seconds": trained.total_seconds,
        }
    # The strong baselines, fit on the same training positives (protocols.baseline_figures).
    results.update(baseline_figures(data, split.train, relevant, seed))
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
