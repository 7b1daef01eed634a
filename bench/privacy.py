"""What differential privacy costs in recommendation quality: NDCG@10 of the popularity list on
MovieLens 100K, released with differential privacy at several epsilons, next to the non-private
list, all in one run.

Protocol: the split and metrics of ``bench.quality`` (ratings of 4+ stars are positives, a
random 80/20 split of them drawn from ``seed``, each user's training items left out, k = 10).
The measurement itself is ``infogap eval``'s epsilon-vs-quality section
(``infogap.server.evaluation.privacy``: real in-process servers, fresh noise at every Train),
run here with more draws. Rows for reference: the same server without privacy, the
contribution bounding alone (an epsilon so large that the noise vanishes), and
``bench.quality``'s numpy popularity.

    python -m bench.privacy --dataset "$(../shared/datasets/fetch-movielens-100k)"
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infogap.server.config import load_settings
from infogap.server.evaluation.data import load_movielens
from infogap.server.evaluation.privacy import EPSILONS, PrivacyCurve, measure_privacy
from infogap.server.evaluation.splits import make_split

from .quality.baselines import popularity_scores, ranking_metrics, top_k
from .quality.protocol import K
from .report import table

DRAWS = 5
NDCG = f"ndcg@{K}"


def progress(message: str) -> None:
    print(f"[privacy] {message}", file=sys.stderr, flush=True)


def _row(label: str, figures: dict[str, Any], **extra: Any) -> dict[str, Any]:
    ndcg = figures["ndcg"]
    return {
        "label": label,
        "mean": ndcg["mean"],
        "std": ndcg["std"],
        "draws": figures["draws"],
        **extra,
    }


def run_privacy(dataset: Path, draws: int = DRAWS, seed: int = 42) -> dict:
    """Measures every row, prints the table and returns the figures (JSON-ready)."""
    started = time.perf_counter()
    data = load_movielens(dataset)
    split = make_split(data, "random", seed)
    numpy_popularity = top_k(
        popularity_scores(split.train.positives(), data.item_count),
        split.users,
        split.train.items_by_user(),
    )
    numpy_ndcg = ranking_metrics(numpy_popularity, split.relevant)[NDCG]
    measured = measure_privacy(
        data, split, load_settings(), k=K, curve=PrivacyCurve(EPSILONS, draws), progress=progress
    )
    rows = [
        {"label": "numpy popularity (bench.quality)", "mean": numpy_ndcg, "std": 0.0, "draws": 1},
        _row("InfoGap popularity, no privacy", measured["no_privacy"]),
        _row("bounding only (no noise)", measured["bounding_only"]),
    ] + [
        _row(f"epsilon {release['epsilon']:g}", release, epsilon=release["epsilon"])
        for release in measured["releases"]
    ]
    result = {
        "seed": seed,
        "k": K,
        "test_users": measured["users"],
        "max_contributions_per_user": measured["max_contributions_per_user"],
        "rows": rows,
        "seconds": time.perf_counter() - started,
    }
    print_report(result)
    return result


def print_report(result: dict) -> None:
    c = result["max_contributions_per_user"]
    print(
        f"\nDifferentially private popularity on MovieLens 100K: {NDCG}, "
        f"{result['test_users']} test users, at most {c} items per user, noise scale c / epsilon"
    )
    rows = [
        [
            row["label"],
            f"{row['mean']:.4f}",
            f"{row['std']:.4f}" if row["draws"] > 1 else "-",
            str(row["draws"]),
        ]
        for row in result["rows"]
    ]
    print("\n".join(table(["release", NDCG, "std", "draws"], rows)))
    print(f"  ({result['seconds']:.0f} s)")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.privacy", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--dataset", type=Path, required=True, help="folder printed by fetch-movielens-100k"
    )
    parser.add_argument("--draws", type=int, default=DRAWS, help="noise draws per epsilon")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    result = run_privacy(args.dataset, draws=args.draws)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
