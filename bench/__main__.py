"""``python -m bench --dataset DIR``: runs the benchmarks and prints a summary (see bench/)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from . import report
from .drain import benchmark_drain
from .http import benchmark_http
from .ingestion import benchmark_ingestion
from .large_catalog import benchmark_large_catalog
from .metrics import ROUNDS as METRICS_ROUNDS
from .metrics import benchmark_metrics
from .privacy import run_privacy
from .profiles import benchmark_profiles
from .quality import run_quality
from .replicas import benchmark_replicas, postgres_database
from .rerankers import run_rerankers
from .servers import GRPC_WORKERS
from .serving import benchmark_serving

DEFAULT_RECOMMEND_ROUNDS = 7
DEFAULT_INGEST_ROUNDS = 3


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--dataset",
        type=Path,
        required=True,
        help="MovieLens 100K folder (events.csv, items.csv, users.csv)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help=f"timed rounds per figure (default: {DEFAULT_RECOMMEND_ROUNDS} for Recommend, "
        f"{DEFAULT_INGEST_ROUNDS} for ingestion)",
    )
    parser.add_argument(
        "--requests", type=int, default=3000, help="Recommend requests per round and server"
    )
    parser.add_argument(
        "--only",
        choices=[
            "recommend",
            "ingest",
            "profiles",
            "replicas",
            "http",
            "drain",
            "quality",
            "privacy",
            "rerankers",
            "metrics",
            "all",
        ],
        default="all",
    )
    parser.add_argument(
        "--large",
        action="store_true",
        help="quality: also train on a synthetic 1,000,000-event catalogue (a few minutes)",
    )
    parser.add_argument(
        "--retail",
        type=Path,
        help="quality: the Instacart sample's folder (fetch-instacart-sample), for the retail "
        "purchase and buy-again protocols (about two minutes); skipped without them",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    results: dict = {"machine": {"cpus": os.cpu_count(), "grpc_workers": GRPC_WORKERS}}
    with tempfile.TemporaryDirectory(prefix="infogap-bench-") as scratch:
        work_dir = Path(scratch)
        if args.only in ("recommend", "all"):
            results["serving"] = benchmark_serving(
                args.dataset,
                work_dir,
                args.rounds or DEFAULT_RECOMMEND_ROUNDS,
                args.requests,
                progress,
            )
            results["large_catalog"] = benchmark_large_catalog(progress)
        if args.only in ("ingest", "all"):
            results["ingestion"] = benchmark_ingestion(
                args.dataset, work_dir, args.rounds or DEFAULT_INGEST_ROUNDS, progress
            )
        if args.only in ("profiles", "all"):
            results["profiles"] = benchmark_profiles(args.dataset, work_dir, progress)
            with postgres_database() as store_url:
                if store_url is not None:
                    results["profiles_postgresql"] = benchmark_profiles(
                        args.dataset, work_dir, progress, store_url
                    )
        if args.only in ("metrics", "all"):
            results["metrics"] = benchmark_metrics(
                args.dataset, work_dir, args.requests, progress, args.rounds or METRICS_ROUNDS
            )
        if args.only in ("replicas", "all"):
            results["replicas"] = benchmark_replicas(
                args.dataset,
                work_dir,
                args.rounds or DEFAULT_INGEST_ROUNDS,
                args.requests,
                progress,
            )
        if args.only in ("http", "all"):
            results["http"] = benchmark_http(
                args.dataset,
                work_dir,
                args.rounds or DEFAULT_INGEST_ROUNDS,
                args.requests,
                progress,
            )
        if args.only in ("drain", "all"):
            results["drain"] = benchmark_drain(
                args.dataset, work_dir, args.rounds or DEFAULT_INGEST_ROUNDS, progress
            )
    if args.only in ("quality", "all"):
        # Prints its own report (accuracy, cold start, freshness, training time).
        results["quality"] = run_quality(args.dataset, include_large=args.large, retail=args.retail)
    if args.only in ("privacy", "all"):
        # Prints its own epsilon-vs-NDCG table.
        results["privacy"] = run_privacy(args.dataset)
    if args.only in ("rerankers", "all"):
        # Prints its own tables (diversity knob, exploration); the summary repeats them.
        results["rerankers"] = run_rerankers(args.dataset)
    results["seconds"] = time.perf_counter() - started
    print(report.summary(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
        print(f"\nresults written to {args.json}")


if __name__ == "__main__":
    main()
