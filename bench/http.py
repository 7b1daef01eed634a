"""Connect JSON against gRPC on the same server: Recommend throughput (16 in flight) and
latency (one in flight), MovieLens 100K, rounds alternating between the two transports."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infogap.client import Client

from . import REPO_ROOT, workload
from .load import RUN_TIMEOUT_SECONDS, run_load_generator
from .servers import free_port, infogap_server
from .serving import load_movielens

CONCURRENCY = 16
LATENCY_REQUESTS = 500


def _connect(url: str, users: Path, concurrency: int, requests: int, warmup: int) -> dict:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.connect_load", "--url", url, "--users", str(users)]
        + ["--concurrency", str(concurrency), "--requests", str(requests)]
        + ["--rounds", "1", "--warmup", str(warmup)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"Connect load generator failed:\n{completed.stderr}")
    return json.loads(completed.stdout)["median"]


def _grpc(address: str, users: Path, dataset: Path, concurrency: int, requests: int) -> dict:
    figures = run_load_generator(
        "recommend",
        "--target",
        f"grpc={address}",
        "--dataset",
        str(dataset),
        "--users",
        str(users),
        "--concurrency",
        str(concurrency),
        "--requests",
        str(requests),
        "--rounds",
        "1",
        "--warmup",
        str(min(requests, 200)),
    )
    return figures["grpc"]["median"]


def benchmark_http(
    dataset: Path, work_dir: Path, rounds: int, requests: int, progress: Callable[[str], None]
) -> dict[str, Any]:
    http_port = free_port()
    env = {"INFOGAP_HTTP__PORT": str(http_port)}
    with infogap_server(work_dir / "http-data", work_dir, env=env) as address:
        url = f"http://127.0.0.1:{http_port}"
        progress("Connect against gRPC: loading MovieLens 100K and training")
        load_movielens(address, dataset)
        with Client(address) as client:
            client.train()
        users = work_dir / "http-users.txt"
        users.write_text("\n".join(workload.user_ids(dataset)))
        runs: dict[str, dict[str, list[dict]]] = {
            "throughput": {"grpc": [], "connect": []},
            "latency": {"grpc": [], "connect": []},
        }
        for round_index in range(rounds):
            progress(f"Connect against gRPC: round {round_index + 1} of {rounds}")
            for part, concurrency, count in (
                ("throughput", CONCURRENCY, requests),
                ("latency", 1, LATENCY_REQUESTS),
            ):
                order = ("grpc", "connect") if round_index % 2 == 0 else ("connect", "grpc")
                for transport in order:
                    figures = (
                        _grpc(address, users, dataset, concurrency, count)
                        if transport == "grpc"
                        else _connect(url, users, concurrency, count, min(count, 200))
                    )
                    runs[part][transport].append(figures)
    return {
        part: {
            transport: {
                "calls_per_second": statistics.median(r["calls_per_second"] for r in rs),
                "p50_ms": statistics.median(r["p50_ms"] for r in rs),
                "p99_ms": statistics.median(r["p99_ms"] for r in rs),
                "errors": sum(r["errors"] for r in rs),
                "rounds": rs,
            }
            for transport, rs in transports.items()
        }
        for part, transports in runs.items()
    }


def report_lines(figures: dict[str, Any]) -> list[str]:
    throughput, latency = figures["throughput"], figures["latency"]
    ratio = throughput["connect"]["calls_per_second"] / throughput["grpc"]["calls_per_second"]
    return [
        "Connect JSON against gRPC (Recommend, MovieLens 100K, same server, medians of rounds)",
        f"  16 in flight: gRPC {throughput['grpc']['calls_per_second']:.0f} calls/s "
        f"(p50 {throughput['grpc']['p50_ms']:.1f} ms), Connect JSON "
        f"{throughput['connect']['calls_per_second']:.0f} calls/s "
        f"(p50 {throughput['connect']['p50_ms']:.1f} ms): {ratio:.2f}x of gRPC",
        f"  one in flight: p50 gRPC {latency['grpc']['p50_ms']:.2f} ms, Connect JSON "
        f"{latency['connect']['p50_ms']:.2f} ms; p99 {latency['grpc']['p99_ms']:.2f} against "
        f"{latency['connect']['p99_ms']:.2f} ms",
    ]
