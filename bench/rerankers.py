"""What the built-in rerankers cost and give, on MovieLens 100K through the real server:

- **diversity**: NDCG@10 against intra-list diversity (mean pairwise Jaccard distance of the
  genres) as ``RecommendRequest.diversity`` moves over 0, 0.25, 0.5, 0.75, 1 (MMR over the
  LightFM item vectors);
- **exploration**: new-item exposure (the share of lists with at least one new item) and NDCG@10
  with the exploration reranker off and on (1 slot of 10, Thompson sampling).

Protocol: ``bench.quality``'s random split (ratings of 4+ stars are positives, 20% of them held
out, each user's training items left out, k = 10), ``USERS`` test users drawn from ``seed``.
To have new items, ``NEW_ITEMS`` random items lose their training events (they arrive without
history, as new products do; their test positives stay). An item is new for the server when it
has fewer than 5 events, so the catalogue's rare items count too. Baselines of the same run:
the numpy popularity list and a random list, with their NDCG and diversity.

    python -m bench.rerankers --dataset "$(../shared/datasets/fetch-movielens-100k)"
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from infogap.client import Client
from infogap.server.config import Settings, load_settings
from infogap.server.evaluation.data import Dataset, load_movielens
from infogap.server.evaluation.metrics import intra_list_diversity, ndcg_at_k
from infogap.server.evaluation.splits import make_split

from .quality.baselines import popularity_scores, top_k
from .quality.protocol import NUM_THREADS, K
from .quality.through_api import send_movielens, serving_client
from .report import table

DIVERSITIES = (0.0, 0.25, 0.5, 0.75, 1.0)
USERS = 400
NEW_ITEMS = 80
NEW_BELOW_EVENTS = 5  # the exploration plugin's max_events default
EXPLORATION = {"slots": 1, "per": 10, "seed": 11, "max_events": NEW_BELOW_EVENTS}


def progress(message: str) -> None:
    print(f"[rerankers] {message}", file=sys.stderr, flush=True)


def _settings(data_dir: Path, plugin_config: dict[str, Any]) -> Settings:
    return load_settings(
        data_dir=data_dir,
        host="127.0.0.1",
        port=0,
        lightfm={"num_threads": NUM_THREADS},
        plugin_config=plugin_config,
    )


def _figures(
    lists: dict[int, list[int]], relevant: dict[int, set[int]], data: Dataset, new: set[int]
) -> dict[str, float]:
    users = sorted(relevant)
    tags = dict(enumerate(data.item_tags))
    return {
        "ndcg": statistics.fmean(ndcg_at_k(lists[u], relevant[u], K) for u in users),
        "ild": statistics.fmean(intra_list_diversity(lists[u], tags, K) for u in users),
        "new_item_lists": statistics.fmean(bool(set(lists[u][:K]) & new) for u in users),
        "new_item_share": statistics.fmean(len(set(lists[u][:K]) & new) / K for u in users),
    }


def _recommend(client: Client, data: Dataset, users: Sequence[int], **options: Any) -> dict:
    lists = {}
    for user in users:
        response = client.recommend(data.user_ids[user], count=K, **options)
        lists[user] = [data.item_position[item.item_id] for item in response.items]
    return lists


def run_rerankers(dataset: Path, users: int = USERS, seed: int = 42) -> dict:
    """Measures both tables, prints them and returns the figures (JSON-ready)."""
    started = time.perf_counter()
    data = load_movielens(dataset)
    split = make_split(data, "random", seed).sampled(users, seed)
    rng = np.random.default_rng(seed)
    arrivals = set(rng.choice(data.item_count, size=NEW_ITEMS, replace=False).tolist())
    train = split.train.where(~np.isin(split.train.item, list(arrivals)))
    counts = np.bincount(train.item, minlength=data.item_count)
    new = {int(i) for i in np.flatnonzero(counts < NEW_BELOW_EVENTS)}
    evaluated = split.users
    seen = train.items_by_user()
    baselines = {
        "numpy popularity": top_k(
            popularity_scores(train.positives(), data.item_count), evaluated, seen
        ),
        "random": top_k(rng.random((data.user_count, data.item_count)), evaluated, seen),
    }
    result: dict[str, Any] = {
        "seed": seed,
        "users": len(evaluated),
        "new_items": len(new),
        "arrivals": NEW_ITEMS,
        "baselines": {n: _figures(r, split.relevant, data, new) for n, r in baselines.items()},
    }
    runs = {"off": {}, "on": {"exploration": EXPLORATION}}
    for name, plugin_config in runs.items():
        with tempfile.TemporaryDirectory(prefix="infogap-rerankers-") as data_dir:
            settings = _settings(Path(data_dir), plugin_config)
            with serving_client(settings) as client:
                progress(f"exploration {name}: loading and training")
                send_movielens(client, data, train)
                client.train()
                if name == "off":
                    result["diversity"] = []
                    for d in DIVERSITIES:
                        lists = _recommend(client, data, evaluated, diversity=d)
                        figures = _figures(lists, split.relevant, data, new)
                        result["diversity"].append({"knob": d, **figures})
                        progress(f"diversity {d}: ndcg {figures['ndcg']:.4f}")
                lists = _recommend(client, data, evaluated)
                result[f"exploration_{name}"] = _figures(lists, split.relevant, data, new)
    result["seconds"] = time.perf_counter() - started
    print_report(result)
    return result


def report_lines(result: dict) -> list[str]:
    lines = [
        f"Diversity knob on MovieLens 100K ({result['users']} users, random split): NDCG@{K} "
        f"against intra-list diversity (genres)"
    ]
    rows = [
        [f"InfoGap, diversity {r['knob']:g}", f"{r['ndcg']:.4f}", f"{r['ild']:.3f}"]
        for r in result["diversity"]
    ]
    rows += [
        [f"baseline: {name}", f"{f['ndcg']:.4f}", f"{f['ild']:.3f}"]
        for name, f in result["baselines"].items()
    ]
    lines += table(["list", f"ndcg@{K}", "intra-list diversity"], rows)
    lines += [
        "",
        f"Exploration (1 slot of {EXPLORATION['per']}, Thompson sampling): {result['new_items']} "
        f"new items (fewer than {NEW_BELOW_EVENTS} events; {result['arrivals']} of them arrived "
        "without history)",
    ]
    rows = [
        [
            label,
            f"{f['ndcg']:.4f}",
            f"{100 * f['new_item_lists']:.1f}%",
            f"{100 * f['new_item_share']:.1f}%",
        ]
        for label, f in (
            ("InfoGap, exploration off", result["exploration_off"]),
            ("InfoGap, exploration on", result["exploration_on"]),
            *((f"baseline: {n}", f) for n, f in result["baselines"].items()),
        )
    ]
    lines += table(["list", f"ndcg@{K}", "lists with a new item", "new items shown"], rows)
    off, on = result["exploration_off"]["ndcg"], result["exploration_on"]["ndcg"]
    lines.append(f"  NDCG change with exploration: {100 * (on - off) / off:+.1f}%")
    return lines


def print_report(result: dict) -> None:
    print("\n" + "\n".join(report_lines(result)))
    print(f"  ({result['seconds']:.0f} s)")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.rerankers", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--dataset", type=Path, required=True, help="folder printed by fetch-movielens-100k"
    )
    parser.add_argument("--users", type=int, default=USERS, help="test users evaluated")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    result = run_rerankers(args.dataset, users=args.users)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
