"""What the metrics cost Recommend: the same trained InfoGap served twice, metrics on
(the default) and off (``INFOGAP_TELEMETRY__METRICS=false``), driven by the Recommend load of
``bench.serving`` in alternating rounds.

MovieLens 100K is loaded and trained once; the data directory is then copied, so that both
servers serve the very same model version (each DuckDB file is one server's).
"""

from __future__ import annotations

import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from infogap.client import Client
from infogap.server.core.domain import DEFAULT_CATALOG
from infogap.server.core.metrics import CoreMetrics
from infogap.server.core.models.lifecycle import MODELS_DIR
from infogap.server.transport.metrics import RpcMetrics

from .bare_server import ModelArrays
from .load import run_load_generator
from .report import table
from .servers import infogap_server
from .serving import CONCURRENCY, load_movielens, serving_version

ROUNDS = 7  # the noise of a shared machine needs them: 3 rounds put 0.92 to 1.26
RECOMMEND_METHOD = "/infogap.v1.RecommendService/Recommend"
TARGET_OVERHEAD = 0.05
METRICS_OFF = {"INFOGAP_TELEMETRY__METRICS": "false"}


def metrics_seconds_per_call(iterations: int = 200_000) -> float:
    """The metrics' own work for one Recommend, timed in this process: the call's count and
    latency, and the cache counters it may move (an upper bound: a call moves one of each)."""
    registry = CollectorRegistry()
    rpc, core = RpcMetrics(registry), CoreMetrics(registry)
    started = time.perf_counter()
    for _ in range(iterations):
        call_started = time.perf_counter()
        core.profile_cache_hits.inc()
        core.event_types_cache_hits.inc()
        rpc.observe_rpc("grpc", RECOMMEND_METHOD, "OK", time.perf_counter() - call_started)
    return (time.perf_counter() - started) / iterations


def benchmark_metrics(
    dataset: Path,
    work_dir: Path,
    requests: int,
    progress: Callable[[str], None],
    rounds: int = ROUNDS,
) -> dict[str, Any]:
    """Recommend calls/s (median of ``rounds`` rounds each) with metrics on and off, and the
    metrics' own work per call."""
    on_dir, off_dir = work_dir / "metrics-on-data", work_dir / "metrics-off-data"
    with infogap_server(on_dir, work_dir) as address:
        progress("metrics: loading MovieLens 100K and training once")
        load_movielens(address, dataset)
        with Client(address) as client:
            client.train(timeout=600)
            version = serving_version(client)
    shutil.copytree(on_dir, off_dir)
    users_file = work_dir / "metrics-users.txt"
    version_dir = on_dir / MODELS_DIR / DEFAULT_CATALOG / version
    users_file.write_text("\n".join(ModelArrays.load(version_dir).user_ids))
    with (
        infogap_server(on_dir, work_dir) as on_address,
        infogap_server(off_dir, work_dir, env=METRICS_OFF) as off_address,
    ):
        progress(f"metrics: Recommend, {rounds} rounds of {requests:,} per server, on and off")
        recommend = run_load_generator(
            "recommend",
            "--target",
            f"metrics_on={on_address}",
            "--target",
            f"metrics_off={off_address}",
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
    on, off = recommend["metrics_on"], recommend["metrics_off"]
    # Rounds alternate between the servers: round i of each ran under similar noise.
    per_round = statistics.median(
        a["calls_per_second"] / b["calls_per_second"] for a, b in zip(on["rounds"], off["rounds"])
    )
    seconds_per_call = metrics_seconds_per_call()
    return {
        "metrics_microseconds_per_call": seconds_per_call * 1e6,
        # Recommend is bound by one process's Python (one GIL): the metrics' share of a call's
        # time at the measured rate, without the noise of the rounds.
        "metrics_share_at_measured_rate": seconds_per_call * off["median"]["calls_per_second"],
        "concurrency": CONCURRENCY,
        "requests": requests,
        "on": on,
        "off": off,
        "ratio_on_to_off": on["median"]["calls_per_second"] / off["median"]["calls_per_second"],
        "ratio_on_to_off_per_round": per_round,
    }


def report_lines(results: dict[str, Any]) -> list[str]:
    rows = [
        [
            label,
            f"{results[key]['median']['calls_per_second']:,.0f}",
            f"{results[key]['median']['p50_ms']:.2f}",
            f"{results[key]['median']['p99_ms']:.2f}",
            str(sum(r["errors"] for r in results[key]["rounds"])),
        ]
        for label, key in (("metrics on", "on"), ("metrics off", "off"))
    ]
    ratio = results["ratio_on_to_off"]
    overhead = 1 - ratio
    verdict = "meets target" if overhead < TARGET_OVERHEAD else "ABOVE target"
    return [
        f"Metrics overhead on Recommend, MovieLens 100K, {results['concurrency']} in flight, "
        f"{len(results['on']['rounds'])} rounds of {results['requests']:,} (median round)",
        *table(["server", "req/s", "p50 ms", "p99 ms", "errors"], rows),
        f"  on/off = {ratio:.3f} (median of per-round ratios "
        f"{results['ratio_on_to_off_per_round']:.3f}): overhead {overhead:.1%}, target < "
        f"{TARGET_OVERHEAD:.0%}: {verdict}",
        f"  The metrics' own work: {results['metrics_microseconds_per_call']:.1f} us per call, "
        f"{results['metrics_share_at_measured_rate']:.2%} of a call's time at the rate measured "
        "(timed in process, free of the rounds' noise)",
    ]
