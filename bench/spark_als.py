"""``python -m bench.spark_als --dataset DIR``: the ``spark_als`` and ``als`` plugins side by side
on MovieLens 100K (the figures of docs/spark.md).

Both trainers fit the same random split's training positives (``infogap eval``'s ``random``
protocol, seed 1) with the same factors and iterations; Spark runs on ``--master`` (default
``local[2]``) and implicit on as many threads. Printed: Spark's start, each fit's seconds (Spark
cold, on a fresh JVM, then warm), and precision and recall at 10 of the served models (through
the same ``ALSModel`` code) over the split's test users, seen items left out.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from infogap.plugins.als import ALSConfig, ALSModel, ALSTrainer
from infogap.plugins.spark_als import SparkALSConfig, SparkALSTrainer
from infogap.server.evaluation import metrics
from infogap.server.evaluation.baselines import training_matrix
from infogap.server.evaluation.data import load_movielens
from infogap.server.evaluation.splits import make_split
from infogap.server.plugin import FeatureMatrix, TrainingContext, TrainingData, UserQuery

FACTORS, ITERATIONS, ALPHA = 64, 15, 1.0
SEED = 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.spark_als", description=__doc__)
    parser.add_argument("--dataset", type=Path, required=True, help="MovieLens 100K folder")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--threads", type=int, default=2, help="implicit's threads")
    parser.add_argument(
        "--regularization",
        type=float,
        nargs=2,
        default=(0.05, 0.01),
        metavar=("ALS", "SPARK"),
        help="λ of each: implicit's is fixed, Spark's is per interaction (ALS-WR)",
    )
    return parser.parse_args()


def precision_recall(model: ALSModel, seen: sp.csr_matrix, relevant: dict[int, set[int]]):
    """Mean precision and recall at ``metrics.K`` of the model's top items, seen ones left out."""
    precisions, recalls = [], []
    for user, targets in relevant.items():
        result = model.score_user(UserQuery(str(user), lambda _: {}))
        if result is None:
            precisions.append(0.0)
            recalls.append(0.0)
            continue
        scores = result.scores.copy()
        scores[seen[user].indices] = -np.inf
        ranked = np.argsort(-scores, kind="stable")[: metrics.K].tolist()
        precisions.append(metrics.precision_at_k(ranked, targets))
        recalls.append(metrics.recall_at_k(ranked, targets))
    return float(np.mean(precisions)), float(np.mean(recalls))


def main() -> None:
    args = parse_args()
    data = load_movielens(args.dataset)
    split = make_split(data, "random", SEED)
    train = split.train.positives()
    matrix = training_matrix(train.user, train.item, (data.user_count, data.item_count))
    seen = sp.csr_matrix(
        (np.ones(len(split.train)), (split.train.user, split.train.item)), shape=matrix.shape
    )
    no_features = FeatureMatrix((), sp.csr_matrix((0, 0)))
    training = TrainingData(
        catalog="movielens",
        user_ids=np.array([str(u) for u in range(data.user_count)], dtype=object),
        item_ids=np.array(data.item_ids, dtype=object),
        interactions=matrix.tocoo(),
        user_features=no_features,
        item_features=no_features,
        event_count=int(matrix.nnz),
    )
    context = TrainingContext("movielens", lambda a: a)
    als_lambda, spark_lambda = args.regularization
    implicit = ALSTrainer(
        ALSConfig(
            factors=FACTORS,
            iterations=ITERATIONS,
            regularization=als_lambda,
            alpha=ALPHA,
            num_threads=args.threads,
        )
    )
    spark = SparkALSTrainer(
        SparkALSConfig(
            enabled=True,
            master=args.master,
            factors=FACTORS,
            iterations=ITERATIONS,
            regularization=spark_lambda,
            alpha=ALPHA,
        )
    )
    results = {}
    started = time.perf_counter()
    als_model = implicit.train(training, context)
    results["als_fit_seconds"] = time.perf_counter() - started
    cold = spark.train(training, context)
    results["spark_start_seconds"] = cold.metrics["spark_start_seconds"]
    results["spark_cold_fit_seconds"] = cold.metrics["fit_seconds"]
    started = time.perf_counter()
    warm = spark.train(training, context)
    results["spark_warm_train_seconds"] = time.perf_counter() - started
    results["spark_warm_fit_seconds"] = warm.metrics["fit_seconds"]
    results["spark_snapshot_seconds"] = warm.metrics["snapshot_seconds"]
    for name, model in (("als", als_model), ("spark_als", warm)):
        precision, recall = precision_recall(model, seen, split.relevant)
        results[f"{name}_precision_at_10"], results[f"{name}_recall_at_10"] = precision, recall
    results.update(
        users=data.user_count,
        items=data.item_count,
        training_positives=int(matrix.nnz),
        test_users=len(split.relevant),
        factors=FACTORS,
        iterations=ITERATIONS,
        als_regularization=als_lambda,
        spark_regularization=spark_lambda,
        master=args.master,
    )
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in results.items()}))


if __name__ == "__main__":
    main()
