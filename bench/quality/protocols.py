"""The issue's protocols, each with InfoGap (through its gRPC API) and the strong baselines
(``infogap.server.evaluation.baselines``, fit directly on the same training positives) in the
same run: MovieLens 100K's temporal split, and a retail purchase log (see ``retail``). The
random split's table (``scenarios.accuracy``) takes its baselines from here too."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from infogap.server.evaluation.baselines import run_baselines, training_matrix
from infogap.server.evaluation.splits import TEST_FRACTION, split_temporal

from .baselines import ranking_metrics
from .data import Dataset, Events
from .protocol import K, progress
from .protocols_report import INFOGAP_KEY
from .retail import split_last_order
from .through_api import infogap_client, recommend_all, send_movielens


def baseline_figures(
    data: Dataset,
    train: Events,
    relevant: Mapping[int, Collection[int]],
    seed: int,
) -> dict[str, dict[str, Any]]:
    """Every baseline fit on ``train``'s positives (binary), ranked for the users of
    ``relevant`` without their training items (every training event, as InfoGap's seen set)."""
    positives = train.positives()
    matrix = training_matrix(positives.user, positives.item, (data.user_count, data.item_count))
    figures = {}
    for result in run_baselines(
        matrix,
        sorted(relevant),
        train.items_by_user(),
        count=K,
        seed=seed,
        progress=lambda message: progress(f"  {message}"),
    ):
        label = result.label + "".join(f" ({note})" for note in result.notes)
        figures[result.key] = {
            "label": label,
            **ranking_metrics(result.rankings, relevant),
            "train_seconds": result.fit_seconds,
        }
    return figures


def infogap_figures(
    data: Dataset,
    train: Events,
    relevant: Mapping[int, Collection[int]],
    *,
    label: str,
    user_attributes: bool = True,
    item_features: bool = True,
) -> dict[str, Any]:
    """InfoGap on a fresh server: the data set's users and items, ``train``'s events, Train,
    then Recommend for each user of ``relevant``."""
    users: Sequence[int] = sorted(relevant)
    with infogap_client() as client:
        send_movielens(
            client, data, train, user_attributes=user_attributes, item_genres=item_features
        )
        started = time.perf_counter()
        response = client.train()
        wall = time.perf_counter() - started
        rankings, strategies = recommend_all(client, data, users)
    return {
        "label": label,
        **ranking_metrics(rankings, relevant),
        "strategies": strategies,
        "train_seconds": response.total_seconds or wall,
        "train_seconds_per_model": {m.strategy: m.training_seconds for m in response.models},
    }


def temporal_movielens(data: Dataset, seed: int) -> dict[str, Any]:
    """Each user's latest 20% of positive (user, item) pairs are the test (splits.split_temporal,
    the split ``infogap eval --split temporal`` uses)."""
    split = split_temporal(data.events, TEST_FRACTION)
    relevant = split.test.items_by_user()
    progress("temporal split: InfoGap (user attributes + item genres)")
    candidates = {
        INFOGAP_KEY: infogap_figures(
            data, split.train, relevant, label="InfoGap (user attributes + item genres)"
        )
    }
    candidates.update(baseline_figures(data, split.train, relevant, seed))
    return {
        "train_positives": int(split.train.positive.sum()),
        "test_positives": len(split.test),
        "candidates": candidates,
    }


def retail_purchases(folder: Path, seed: int) -> dict[str, Any]:
    """The Instacart sample, each household's last order as the next period (see ``retail``)."""
    split = split_last_order(folder)
    progress("retail: InfoGap")
    candidates = {
        INFOGAP_KEY: infogap_figures(
            split.data, split.train, split.relevant, label="InfoGap (no features in the data)"
        )
    }
    candidates.update(baseline_figures(split.data, split.train, split.relevant, seed))
    return {
        "dataset": "Instacart order sample (fetch-instacart-sample)",
        "households": split.data.user_count,
        "products": split.data.item_count,
        "train_lines": len(split.train),
        "test_lines": split.test_lines,
        "new_products": sum(len(items) for items in split.relevant.values()),
        "candidates": candidates,
    }
