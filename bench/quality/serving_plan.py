"""``python -m bench.quality.serving_plan <movielens folder>``: the serving plan chosen at Train
against the fixed blending rule and popularity, per activity bucket, through real servers.

Each configuration gets a fresh in-process server fed the split's training events through the
SDK; every test user is asked through Recommend; NDCG@10 per user is averaged per bucket of
the plan's edges (the user's training positives).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from infogap.server.config import load_settings
from infogap.server.core.models.selection import bucket_ranges
from infogap.server.evaluation import metrics as m
from infogap.server.evaluation.data import load_movielens
from infogap.server.evaluation.servers import send_dataset, serve_split, throwaway_client
from infogap.server.evaluation.splits import make_split

K = 10
CONFIGURATIONS: dict[str, dict[str, dict[str, Any]]] = {
    "plan": {},
    "fixed rule (blend below 5)": {"serving": {"blend_below_interactions": 5}},
    "popularity": {"plugins": {"disabled": ["lightfm"]}},
}
EDGES = (1, 5, 20)


def bucket_of(count: int) -> str:
    for low, high in bucket_ranges(EDGES):
        if high is None or count <= high:
            return f"{low}+" if high is None else f"{low}-{high}"
    raise AssertionError(count)


def run(dataset: Path, split_kind: str) -> None:
    data = load_movielens(dataset)
    split = make_split(data, split_kind, seed=42)
    train_positives = np.bincount(split.train.positives().user, minlength=data.user_count)
    settings = load_settings(lightfm={"num_threads": 2})
    print(f"\n## {split_kind}: {split.protocol}")
    for name, overrides in CONFIGURATIONS.items():
        started = time.perf_counter()
        with throwaway_client(settings, overrides) as client:
            send_dataset(client, data, split.train, user_attributes=True, item_features=True)
            client.train()
            train_seconds = time.perf_counter() - started
            plan = client.model_info().serving_plan
            rankings, strategies = serve_split(client, data, split, K)
        per_bucket: dict[str, list[float]] = {}
        for user in split.users:
            ndcg = m.ndcg_at_k(rankings[user], split.relevant[user], K)
            per_bucket.setdefault(bucket_of(int(train_positives[user])), []).append(ndcg)
        every = [v for values in per_bucket.values() for v in values]
        figures = ", ".join(
            f"{b}: {np.mean(v):.4f} (n={len(v)})" for b, v in sorted(per_bucket.items())
        )
        print(f"- {name}: NDCG@10 {np.mean(every):.4f}; by bucket {figures}")
        print(f"  served: {dict(Counter(strategies))}; train+load {train_seconds:.0f} s")
        if plan.buckets:
            for bucket in plan.buckets:
                print(
                    f"  plan from {bucket.min_interactions}: "
                    f"{bucket.choice} ({bucket.validation_users} validation users) {bucket.reason}"
                )


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    for kind in sys.argv[2:] or ["temporal"]:
        run(folder, kind)
