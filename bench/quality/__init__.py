"""Recommendation quality of InfoGap on MovieLens 100K, next to baselines measured in the same run.

Protocol (every figure comes from this one run, on splits drawn from ``seed``):

- Ratings of 4 stars or more are positives. Accuracy: a random 80/20 split of the positives;
  ratings below 4 are never targets and stay on the training side. Every candidate leaves out
  the items a user has on the training side (InfoGap's own "seen" set) and is scored with
  NDCG, precision and recall at k = 10 over the users with at least one test positive.
- Candidates: InfoGap itself through its gRPC API, with and without user attributes and item
  genres as features, and the strong baselines of ``infogap.server.evaluation.baselines`` fit
  directly on the same binary training positives (popularity, EASE with lambda 300, item-kNN
  cosine K = 100, implicit ALS, LightFM WARP with 64 components), each with its Train time.
- Temporal split: each user's latest 20% of positive pairs are the test; InfoGap and the same
  baselines.
- Retail purchases (``--retail DIR``, the folder of ``fetch-instacart-sample``): trained on every
  order but each household's last; the test is the last order's products new to the household.
- Cold-start users: 20 % of the users held out entirely (their attributes are known); NDCG
  against all their positives. Freshness: those of them with at least 10 positives record
  their 5 earliest positives (no retraining) and are scored on the rest.
- New customer, five events (``new_customer.py``): the same with raw CRM attributes (age
  unbanded, no zip code) and every held-out user with more than five positives, once per
  LightFM fold-in; acting must not make the list worse than before, nor than popularity.
- Cold-start items: 20 % of the items held out entirely (their genres are known); RankItems
  over them, AUC per user against the held-out items the user did not rate.
- Training time: InfoGap's Train against a raw LightFM fit with the same hyper-parameters on
  the same matrices; optionally also on a synthetic catalogue of a million events.

The server runs in-process on a temporary data directory with its default settings except
LightFM's thread count (one thread makes LightFM deterministic for a fixed seed). The machine
is small and shared: timings are reported, never asserted, and no target fails the run.

    python -m bench.quality --dataset "$(../shared/datasets/fetch-movielens-100k)" \
        --retail "$(../shared/datasets/fetch-instacart-sample)" [--large]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .data import load_movielens, split_positives
from .new_customer import new_customer
from .protocol import TEST_FRACTION, K, progress
from .protocols import retail_purchases, temporal_movielens
from .repeat_purchases import repeat_purchases
from .report import print_report, targets_of
from .scenarios import (
    accuracy,
    cold_items,
    cold_users_and_freshness,
    training_time_large,
    training_time_movielens,
)
from .through_api import quality_settings, settings_report

# --- entry point ------------------------------------------------------------------------------


def run_quality(
    dataset: Path, *, include_large: bool, retail: Path | None = None, seed: int = 42
) -> dict:
    """Runs every scenario, prints the report and returns the figures (JSON-ready). The retail
    and buy-again protocols run when ``retail`` (the Instacart sample's folder) is given."""
    started = time.perf_counter()
    settings = quality_settings()
    data = load_movielens(dataset)
    split = split_positives(data.events, TEST_FRACTION, seed)
    figures: dict[str, Any] = {"seed": seed, "k": K, "settings": settings_report(settings)}
    progress("accuracy")
    figures["accuracy"] = accuracy(data, split, settings, seed)
    progress("temporal split")
    figures["temporal"] = temporal_movielens(data, seed)
    if retail is not None:
        progress("retail purchases")
        figures["retail"] = retail_purchases(retail, seed)
    else:
        figures["retail_skipped"] = "no --retail folder given"
    progress("cold-start users and freshness")
    figures["cold_users"], figures["freshness"] = cold_users_and_freshness(data, seed)
    progress("new customer, five events")
    figures["new_customer"] = new_customer(dataset, seed)
    if retail is not None:
        progress("buy again on the Instacart sample")
        figures["buy_again"] = repeat_purchases(retail)
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
    parser.add_argument(
        "--retail", type=Path, help="folder printed by fetch-instacart-sample (retail protocol)"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    figures = run_quality(
        args.dataset, include_large=args.large, retail=args.retail, seed=args.seed
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
