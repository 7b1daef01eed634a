"""What differential privacy costs in recommendation quality: NDCG@10 of the popularity list on
MovieLens 100K, released with differential privacy at several epsilons, next to the non-private
list, all in one run.

Protocol: the split and metrics of ``bench.quality`` (ratings of 4+ stars are positives, a
random 80/20 split of them drawn from ``seed``, each user's training items left out, k = 10).
Measured through the real server path: an in-process server with popularity as its only
strategy, users sent without attributes (so everyone is served the global list), no
data-driven segments and no validation hold-out (the list is fitted on every training
rating). For each ``epsilon_per_release`` the server trains ``draws`` times, each Train
drawing fresh noise, and every test user is asked for recommendations after each; the table
shows the mean and standard deviation over the draws. The budget per window is set out of
reach: this measures the noise, not the ledger. Rows for reference: the same server without
privacy, the contribution bounding alone (an epsilon so large that the noise vanishes), and
``bench.quality``'s numpy popularity.

    python -m bench.privacy --dataset "$(../shared/datasets/fetch-movielens-100k)"
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from infogap.client import Client
from infogap.server.config import PrivacySettings, load_settings

from .quality import (
    TEST_FRACTION,
    K,
    popularity_scores,
    ranking_metrics,
    recommend_all,
    send_movielens,
    serving_client,
    top_k,
)
from .quality_data import MovieLens, PositiveSplit, load_movielens, split_positives
from .report import table

EPSILONS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0)
DRAWS = 5
NOISELESS_EPSILON = 1e6  # scale c / 1e6: the noise is 0 for all purposes, the bounding stays
UNREACHABLE_BUDGET = 1e12
NDCG = f"ndcg@{K}"


def progress(message: str) -> None:
    print(f"[privacy] {message}", file=sys.stderr, flush=True)


@contextmanager
def popularity_client(data_dir: Path, privacy: dict[str, Any]) -> Iterator[Client]:
    """A client of an in-process server that answers every user with the global popularity."""
    settings = load_settings(
        data_dir=data_dir,
        host="127.0.0.1",
        port=0,
        plugins={"disabled": ["lightfm"]},
        profiles={"clusters": 0},
        lifecycle={"validation_fraction": 0.0},
        privacy=privacy,
    )
    with serving_client(settings) as client:
        yield client


def ndcg_per_draw(
    data: MovieLens, split: PositiveSplit, privacy: dict[str, Any], draws: int
) -> list[float]:
    """NDCG@k of the served popularity list after each of ``draws`` trainings."""
    relevant = split.test.items_by_user()
    users = sorted(relevant)
    figures = []
    with (
        tempfile.TemporaryDirectory(prefix="infogap-privacy-") as data_dir,
        popularity_client(Path(data_dir), privacy) as client,
    ):
        send_movielens(client, data, split.train, user_attributes=False, item_genres=False)
        for _ in range(draws):
            client.train()
            rankings, strategies = recommend_all(client, data, users)
            if set(strategies) != {"popularity"}:
                raise RuntimeError(f"expected the popularity list only, got {strategies}")
            figures.append(ranking_metrics(rankings, relevant)[NDCG])
    return figures


def summarised(label: str, figures: Sequence[float], **extra: Any) -> dict[str, Any]:
    spread = statistics.stdev(figures) if len(figures) > 1 else 0.0
    return {"label": label, "mean": statistics.fmean(figures), "std": spread,
            "draws": len(figures), **extra}


def run_privacy(dataset: Path, draws: int = DRAWS, seed: int = 42) -> dict:
    """Measures every row, prints the table and returns the figures (JSON-ready)."""
    started = time.perf_counter()
    data = load_movielens(dataset)
    split = split_positives(data.ratings, TEST_FRACTION, seed)
    relevant = split.test.items_by_user()
    numpy_popularity = top_k(
        popularity_scores(split.train_positives(), data.item_count),
        sorted(relevant),
        split.train.items_by_user(),
    )
    rows = [summarised("numpy popularity (bench.quality)", [ranking_metrics(numpy_popularity, relevant)[NDCG]])]
    progress("without privacy")
    rows.append(summarised("InfoGap popularity, no privacy", ndcg_per_draw(data, split, {"enabled": False}, 1)))
    bound = PrivacySettings().max_contributions_per_user
    private = {
        "enabled": True,
        "epsilon_per_window": UNREACHABLE_BUDGET,
        "max_contributions_per_user": bound,
    }
    progress("contribution bounding only")
    rows.append(
        summarised(
            "bounding only (no noise)",
            ndcg_per_draw(data, split, {**private, "epsilon_per_release": NOISELESS_EPSILON}, 1),
        )
    )
    for epsilon in EPSILONS:
        progress(f"epsilon {epsilon:g}, {draws} draws")
        figures = ndcg_per_draw(data, split, {**private, "epsilon_per_release": epsilon}, draws)
        rows.append(summarised(f"epsilon {epsilon:g}", figures, epsilon=epsilon))
    result = {
        "seed": seed,
        "k": K,
        "test_users": len(relevant),
        "max_contributions_per_user": bound,
        "rows": rows,
        "seconds": time.perf_counter() - started,
    }
    print_report(result)
    return result


def print_report(result: dict) -> None:
    c = result["max_contributions_per_user"]
    print(f"\nDifferentially private popularity on MovieLens 100K: {NDCG}, "
          f"{result['test_users']} test users, at most {c} items per user, noise scale c / epsilon")
    rows = [
        [row["label"], f"{row['mean']:.4f}", f"{row['std']:.4f}" if row["draws"] > 1 else "-",
         str(row["draws"])]
        for row in result["rows"]
    ]
    print("\n".join(table(["release", NDCG, "std", "draws"], rows)))
    print(f"  ({result['seconds']:.0f} s)")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.privacy", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, required=True, help="folder printed by fetch-movielens-100k")
    parser.add_argument("--draws", type=int, default=DRAWS, help="noise draws per epsilon")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    result = run_privacy(args.dataset, draws=args.draws)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
