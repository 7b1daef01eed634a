"""Recommend throughput and latency: InfoGap against the bare-server ceiling, on MovieLens 100K.

InfoGap is loaded the way a CRM would load it (through the SDK, as ``make demo`` does), trained,
and then serves while a bare server (``bench.bare_server``) scores with the arrays InfoGap saved.
Both are driven by the same load generator, in alternating rounds.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from infogap.client import Client
from infogap.server.cli.client_commands import send_events, send_items, send_users
from infogap.server.cli.common import console
from infogap.server.core.domain import DEFAULT_CATALOG
from infogap.server.core.models.lifecycle import MODELS_DIR
from infogap.server.datasets import movielens

from . import workload
from .bare_server import ModelArrays
from .load import RECOMMEND_COUNT, run_load_generator
from .servers import bare_server, infogap_server

CONCURRENCY = 16
PERSONALIZED_STRATEGY = "lightfm"
SANITY_USER = "1"


@contextlib.contextmanager
def _quiet_cli() -> Iterator[None]:
    """The CLI's uploads draw progress bars; the benchmark prints its own lines."""
    was_quiet, console.quiet = console.quiet, True
    try:
        yield
    finally:
        console.quiet = was_quiet


def _import(send: Callable[..., None], address: str, path: Path, rows: Any) -> dict[str, float]:
    """Runs one of the CLI's uploads of ``path`` against ``address``; returns rows and wall
    seconds."""
    started = time.perf_counter()
    with Client(address) as client:
        send(client, path, rows)
    seconds = time.perf_counter() - started
    return {"rows": workload.count_rows(path), "seconds": seconds}


def load_movielens(address: str, dataset: Path) -> dict[str, dict[str, float]]:
    """Users (age banded, gender, occupation), items (genres as tags) and ratings, through the
    SDK with the demo's column mapping, 1,000 per call."""
    with _quiet_cli():
        return {
            "users": _import(
                send_users, address, dataset / movielens.USERS_FILE, movielens.users(dataset)
            ),
            "items": _import(
                send_items, address, dataset / movielens.ITEMS_FILE, movielens.items(dataset)
            ),
            "events": _import(
                send_events, address, dataset / movielens.EVENTS_FILE, movielens.events(dataset)
            ),
        }


def train(client: Client) -> dict[str, Any]:
    response = client.train()
    return {
        "total_seconds": response.total_seconds,
        "models": [
            {
                "strategy": model.strategy,
                "training_seconds": model.training_seconds,
                "users": model.user_count,
                "items": model.item_count,
                "events": model.event_count,
            }
            for model in response.models
        ],
    }


def serving_version(client: Client) -> str:
    """The version of the personalized model now serving (what the bare server must load)."""
    for model in client.model_info().models:
        if model.strategy == PERSONALIZED_STRATEGY:
            return model.version
    raise RuntimeError(f"no {PERSONALIZED_STRATEGY} model is serving after training")


def _check_answers(address: str) -> None:
    """Both servers must answer a full list before they are timed."""
    with Client(address) as client:
        items = client.recommend(SANITY_USER, count=RECOMMEND_COUNT).items
    if len(items) != RECOMMEND_COUNT:
        raise RuntimeError(f"{address} answered {len(items)} items instead of {RECOMMEND_COUNT}")


def benchmark_serving(
    dataset: Path, work_dir: Path, rounds: int, requests: int, progress: Callable[[str], None]
) -> dict[str, Any]:
    data_dir = work_dir / "serving-data"
    with infogap_server(data_dir, work_dir) as infogap_address:
        progress("loading MovieLens 100K into InfoGap through the SDK")
        imports = load_movielens(infogap_address, dataset)
        progress("training")
        with Client(infogap_address) as client:
            training = train(client)
            version = serving_version(client)
        version_dir = data_dir / MODELS_DIR / DEFAULT_CATALOG / version
        # Requests go to users the model knows (MovieLens has one without any positive rating),
        # which the bare server can score too.
        users_file = work_dir / "known-users.txt"
        users_file.write_text("\n".join(ModelArrays.load(version_dir).user_ids))
        with bare_server(version_dir, work_dir) as bare_address:
            for address in (infogap_address, bare_address):
                _check_answers(address)

            def measure() -> dict[str, Any]:
                recommend = run_load_generator(
                    "recommend",
                    "--target",
                    f"infogap={infogap_address}",
                    "--target",
                    f"bare={bare_address}",
                    "--dataset",
                    str(dataset),
                    "--users",
                    str(users_file),
                    "--concurrency",
                    str(CONCURRENCY),
                    "--requests",
                    str(requests),
                    "--rounds",
                    str(rounds),
                    "--warmup",
                    str(min(requests, 500)),
                )
                return {
                    **recommend,
                    "concurrency": CONCURRENCY,
                    "infogap_share_of_ceiling": _share_of_ceiling(recommend),
                }

            progress(f"Recommend: {rounds} rounds of {requests:,} requests per server")
            recommend = measure()
            progress("Recommend again, inside an A/A experiment (assignment, impressions logged)")
            with Client(infogap_address) as client:
                client.create_experiment(
                    "bench-a-a", [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.5}]
                )
                client.start_experiment("bench-a-a")
                in_experiment = measure()
                report = client.experiment_report("bench-a-a")
                in_experiment["impressions_logged"] = sum(v.impressions for v in report.variants)
                client.stop_experiment("bench-a-a")
    return {
        "import": imports,
        "train": training,
        "recommend": recommend,
        "recommend_in_experiment": in_experiment,
    }


def _share_of_ceiling(recommend: dict[str, Any]) -> float:
    # Rounds alternate between the servers, so round i of each ran under similar noise: the
    # median of the per-round ratios is steadier than the ratio of the medians.
    return statistics.median(
        ours["calls_per_second"] / ceiling["calls_per_second"]
        for ours, ceiling in zip(recommend["infogap"]["rounds"], recommend["bare"]["rounds"])
    )
