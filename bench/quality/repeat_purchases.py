"""Buy again on the Instacart sample, against each user's own most-frequent items.

Next-basket protocol: each user's last order is the test; the model trains on the earlier
ones. The targets are the items of the last order the user had bought before (buy-again ranks
only those), for the users with at least one. Instacart gives days relative to each user's
first order, so each user's "now" is the day of their last order (the time the basket is
made), and an order's time is its day plus its number in seconds (orders of the same day stay
distinct purchases). The baseline ranks the user's items by how many of their orders held
them, the latest purchase first among equals. Both are scored by NDCG@10 and recall@10.

    python -m bench.quality.repeat_purchases --dataset "$(../shared/datasets/fetch-instacart-sample)"
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from infogap.plugins.buy_again import DAY_US, BuyAgainConfig, BuyAgainModel, BuyAgainTrainer
from infogap.server.plugin import FeatureMatrix, TimedEvents, TrainingContext, TrainingData

from .baselines import ranking_metrics
from .protocol import K

CATALOG = "groceries"


def _read(dataset: Path) -> dict[str, np.ndarray]:
    with (dataset / "events.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {
        "user": np.array([r["user_id"] for r in rows], dtype=object),
        "item": np.array([r["item_id"] for r in rows], dtype=object),
        "order": np.array([int(r["order_number"]) for r in rows], dtype=np.int64),
        "day": np.array([int(float(r["day"])) for r in rows], dtype=np.int64),
    }


def repeat_purchases(dataset: Path, config: BuyAgainConfig | None = None) -> dict[str, Any]:
    columns = _read(dataset)
    user_ids, user_rows = np.unique(columns["user"].astype(str), return_inverse=True)
    item_ids, item_cols = np.unique(columns["item"].astype(str), return_inverse=True)
    time_us = columns["day"] * DAY_US + columns["order"] * 1_000_000
    last_order = np.zeros(len(user_ids), dtype=np.int64)
    np.maximum.at(last_order, user_rows, columns["order"])
    test = columns["order"] == last_order[user_rows]
    train = ~test
    now_of = np.zeros(len(user_ids), dtype=np.int64)
    now_of[user_rows[test]] = time_us[test]

    order = np.argsort(time_us[train], kind="stable")
    events = TimedEvents(
        user_rows[train][order].astype(np.int64),
        item_cols[train][order].astype(np.int64),
        time_us[train][order],
    )
    shape = (len(user_ids), len(item_ids))
    counts = sp.csr_matrix(
        (np.ones(len(events.time_us), dtype=np.float32), (events.user_rows, events.item_columns)),
        shape=shape,
    )
    data = TrainingData(
        catalog=CATALOG,
        user_ids=user_ids.astype(object),
        item_ids=item_ids.astype(object),
        interactions=counts.tocoo(),
        user_features=FeatureMatrix.from_rows([[] for _ in user_ids]),
        item_features=FeatureMatrix.from_rows([[] for _ in item_ids]),
        event_count=len(events.time_us),
        load_timed_positives=lambda: events,
    )
    settings = (config or BuyAgainConfig()).model_copy(update={"catalogs": [CATALOG]})
    model = BuyAgainTrainer(settings).train(data, TrainingContext(CATALOG, lambda a: a))
    assert isinstance(model, BuyAgainModel)

    bought_before: dict[int, set[int]] = {}
    for row in range(len(user_ids)):
        bought_before[row] = set(counts.indices[counts.indptr[row] : counts.indptr[row + 1]])
    relevant: dict[int, set[int]] = {}
    for row, item in zip(user_rows[test].tolist(), item_cols[test].tolist()):
        if item in bought_before[row]:
            relevant.setdefault(row, set()).add(item)

    last_time = np.zeros(shape[1])
    buy_again, frequent = {}, {}
    for row in sorted(relevant):
        result = model.scores_at(str(user_ids[row]), np.empty(0, np.int64), int(now_of[row]))
        assert result is not None
        buy_again[row] = np.argsort(-result.scores, kind="stable")[:K].tolist()
        mine = events.user_rows == row
        items, times = events.item_columns[mine], events.time_us[mine]
        last_time[items] = times  # events are oldest first: the latest time wins
        item_counts = np.bincount(items, minlength=shape[1])
        bought = np.flatnonzero(item_counts)
        ranked = bought[np.lexsort((bought, -last_time[bought], -item_counts[bought]))]
        frequent[row] = ranked[:K].tolist()
    return {
        "users": len(relevant),
        "items": len(item_ids),
        "events": len(columns["user"]),
        "median_cycle_days": model.metrics["median_cycle_days"],
        "buy_again": ranking_metrics(buy_again, relevant),
        "most_frequent": ranking_metrics(frequent, relevant),
    }


def buy_again_targets(figures: Mapping[str, Any], target: Any) -> list[dict]:
    ndcg = f"ndcg@{K}"
    return [
        target(
            "buy again: NDCG@10 >= each user's own most-frequent items",
            figures["buy_again"][ndcg],
            ">=",
            figures["most_frequent"][ndcg],
        )
    ]


def buy_again_title(figures: Mapping[str, Any]) -> str:
    return (
        f"Buy again, Instacart sample: {figures['users']} users, each one's last order held "
        "out; targets are its items bought before"
    )


def buy_again_rows(figures: Mapping[str, Any], metric_row: Any) -> list[list[Any]]:
    return [
        metric_row("buy again", figures["buy_again"]),
        metric_row("own most-frequent items (baseline)", figures["most_frequent"]),
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.quality.repeat_purchases")
    parser.add_argument("--dataset", type=Path, required=True)
    args = parser.parse_args(argv)
    figures = repeat_purchases(args.dataset)
    print(
        f"Buy again, Instacart sample: {figures['users']} users, last order held out; "
        f"targets are its items bought before (median cycle {figures['median_cycle_days']:.1f} d)"
    )
    for key, label in (("buy_again", "buy again"), ("most_frequent", "own most frequent")):
        f = figures[key]
        print(f"  {label:<18} NDCG@{K} {f[f'ndcg@{K}']:.4f}  recall@{K} {f[f'recall@{K}']:.4f}")


if __name__ == "__main__":
    main()
