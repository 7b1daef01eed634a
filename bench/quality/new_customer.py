"""The "new customer, five events" scenario: a held-out user arrives with the attributes a CRM
sends (age as the raw number, gender, occupation; no zip code), then does five things.

Protocol (seeded): 20 % of the MovieLens users are held out and never trained on; the server
knows their attributes. Each of them with more than five positives records their five
earliest positives (rating >= 4) in time order through RecordEvents, without retraining; the
rest of their positives is the test. NDCG@10 of InfoGap before the events (attributes only,
the five items left out), InfoGap after them, and popularity without those five items. It runs
once per LightFM fold-in (``lightfm.fold_in``): the fitted one that serves by default and the
former mean of item vectors, so that both are measured in the same run.

README promises that acting never makes a list worse: the targets are "after >= before" and
"after >= popularity" for the serving fold-in.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from infogap.plugins.lightfm_fold_in import FoldInSettings, SoftmaxFoldIn
from infogap.server.config import load_settings
from infogap.server.datasets.csv_files import read_rows

from .baselines import popularity_scores, ranking_metrics, top_k
from .data import Dataset, Events, load_movielens, random_mask
from .protocol import FRESH_EVENTS, HOLD_OUT_FRACTION, NUM_THREADS, K, progress
from .through_api import recommend_all, send_movielens, serving_client

CRM_COLUMNS = ("age", "gender", "occupation")
FOLD_INS = ("softmax", "mean")  # the serving default first
SERVING_FOLD_IN = "softmax"
TIMING_CALLS = 200


def with_crm_attributes(data: Dataset, dataset: Path) -> Dataset:
    """The data set with each user's attributes as a CRM sends them: raw age, no zip code."""
    rows = {row["user_id"]: row for row in read_rows(dataset / "users.csv")}
    attributes = [{c: rows[u][c] for c in CRM_COLUMNS if rows[u].get(c)} for u in data.user_ids]
    return replace(data, user_attributes=attributes)


def _first_events(positives: Events, users: Sequence[int]) -> tuple[dict, dict]:
    recorded: dict[int, Events] = {}
    rest: dict[int, set[int]] = {}
    for user in users:
        theirs = positives.where(positives.user == user)
        by_time = np.lexsort((theirs.item, theirs.time_us))
        recorded[user] = theirs.where(by_time[:FRESH_EVENTS])
        rest[user] = set(theirs.item[by_time[FRESH_EVENTS:]].tolist())
    return recorded, rest


def fold_in_milliseconds(item_count: int, components: int, settings: FoldInSettings) -> float:
    """Median wall time of one fold-in of five items at the catalogue's size (random vectors
    of the trained model's shape; the cost does not depend on their values)."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(scale=0.3, size=(item_count, components)).astype(np.float32)
    fitter = SoftmaxFoldIn(vectors, rng.normal(size=item_count).astype(np.float32), settings)
    start = np.zeros(components, dtype=np.float32)
    timings = []
    for _ in range(TIMING_CALLS):
        positives = rng.choice(item_count, size=FRESH_EVENTS, replace=False)
        began = time.perf_counter()
        fitter.fit(start, positives)
        timings.append(time.perf_counter() - began)
    return 1000 * statistics.median(timings)


def new_customer(
    dataset: Path, seed: int, lightfm: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Runs the scenario for each fold-in; ``lightfm`` overrides further LightFM options."""
    data = with_crm_attributes(load_movielens(dataset), dataset)
    held_out = random_mask(data.user_count, HOLD_OUT_FRACTION, seed)
    known = data.events.where(~held_out[data.events.user])
    positives = data.events.where(held_out[data.events.user]).positives()
    counts = np.bincount(positives.user, minlength=data.user_count)
    users = sorted(np.flatnonzero(counts > FRESH_EVENTS).tolist())
    recorded, rest = _first_events(positives, users)
    recorded_items = {user: events.item.tolist() for user, events in recorded.items()}
    popularity = popularity_scores(known.positives(), data.item_count)
    figures: dict[str, Any] = {
        "users": len(users),
        "recorded_events_per_user": FRESH_EVENTS,
        "popularity": ranking_metrics(top_k(popularity, users, recorded_items), rest),
    }
    for fold_in in FOLD_INS:
        progress(f"new customer, five events: fold-in {fold_in!r}")
        options = {"num_threads": NUM_THREADS, **(lightfm or {}), "fold_in": fold_in}
        with (
            tempfile.TemporaryDirectory(prefix="infogap-quality-") as data_dir,
            serving_client(
                load_settings(data_dir=Path(data_dir), host="127.0.0.1", port=0, lightfm=options)
            ) as client,
        ):
            send_movielens(client, data, known)
            client.train()
            before, before_strategies = recommend_all(client, data, users, recorded_items)
            for user in users:  # each user's five, oldest first, as they happen
                client.record(data.event_messages(recorded[user]))
            after, after_strategies = recommend_all(client, data, users)
        figures[fold_in] = {
            "before": {**ranking_metrics(before, rest), "strategies": before_strategies},
            "after": {**ranking_metrics(after, rest), "strategies": after_strategies},
        }
    settings = FoldInSettings()
    figures["fold_in_ms_5_items"] = fold_in_milliseconds(data.item_count, 32, settings)
    figures["fold_in_ms_5_items_100k"] = fold_in_milliseconds(100_000, 32, settings)
    return figures


def new_customer_targets(figures: Mapping[str, Any], target: Any) -> list[dict]:
    """README's promise, for the serving fold-in: acting never makes the list worse than it
    was, nor worse than popularity."""
    ndcg = f"ndcg@{K}"
    serving = figures[SERVING_FOLD_IN]
    after = serving["after"][ndcg]
    return [
        target(
            "new customer: NDCG@10 after five events >= before them",
            after,
            ">=",
            serving["before"][ndcg],
        ),
        target(
            "new customer: NDCG@10 after five events >= popularity",
            after,
            ">=",
            figures["popularity"][ndcg],
        ),
    ]


def new_customer_rows(figures: Mapping[str, Any], metric_row: Any) -> list[list[Any]]:
    rows = []
    for fold_in in FOLD_INS:
        label = (
            "fitted (serving)" if fold_in == SERVING_FOLD_IN else "mean of item vectors (former)"
        )
        rows.append(metric_row(f"InfoGap after, fold-in {label}", figures[fold_in]["after"]))
        rows.append(metric_row(f"InfoGap before, fold-in {label}", figures[fold_in]["before"]))
    rows.append(metric_row("popularity (without those items)", figures["popularity"]))
    return rows


def new_customer_title(figures: Mapping[str, Any]) -> str:
    return (
        f"New customer, five events: {figures['users']} held-out users with raw CRM attributes "
        f"record their {FRESH_EVENTS} earliest positives (no retraining); targets are the rest. "
        f"One fold-in of 5 items: {figures['fold_in_ms_5_items']:.2f} ms at 1,682 items, "
        f"{figures['fold_in_ms_5_items_100k']:.2f} ms at 100,000"
    )
