"""The Connect JSON load generator: threads with keep-alive HTTP/1.1 connections, a fixed
number of calls in flight, in a process of its own; prints its figures as JSON on stdout.

    python -m bench.connect_load --url http://127.0.0.1:8080 --users USERS.txt \\
        --concurrency 16 --requests 3000 --rounds 5

Each body is encoded before the clock starts. A call that fails is counted, not retried.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import threading
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .load import RECOMMEND_COUNT, Round, summary

PATH = "/infogap.v1.RecommendService/Recommend"
HEADERS = {"Content-Type": "application/json"}


def timed_round(url: str, bodies: Sequence[bytes], concurrency: int) -> Round:
    """Sends every body with ``concurrency`` connections, each its own thread."""
    parsed = urllib.parse.urlsplit(url)
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    next_index = 0

    def sender() -> None:
        nonlocal next_index, errors
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        try:
            while True:
                with lock:
                    if next_index >= len(bodies):
                        return
                    index = next_index
                    next_index += 1
                started = time.perf_counter()
                connection.request("POST", PATH, bodies[index], HEADERS)
                response = connection.getresponse()
                response.read()
                elapsed = time.perf_counter() - started
                with lock:
                    if response.status == 200:
                        latencies.append(elapsed)
                    else:
                        errors += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=sender) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    p50, p99 = np.percentile(latencies, [50, 99]) * 1000 if latencies else (float("nan"),) * 2
    return Round(
        calls=len(latencies),
        errors=errors,
        seconds=seconds,
        calls_per_second=len(latencies) / seconds,
        units_per_second=len(latencies) / seconds,
        p50_ms=float(p50),
        p99_ms=float(p99),
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.connect_load")
    parser.add_argument("--url", required=True, help="the server's HTTP base URL")
    parser.add_argument("--users", type=Path, required=True, help="user ids, one a line")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    users = args.users.read_text().split()
    rng = random.Random(args.seed)

    def bodies(count: int) -> list[bytes]:
        return [
            json.dumps({"userId": user, "count": RECOMMEND_COUNT}).encode()
            for user in rng.choices(users, k=count)
        ]

    timed_round(args.url, bodies(args.warmup), args.concurrency)
    rounds = [
        timed_round(args.url, bodies(args.requests), args.concurrency) for _ in range(args.rounds)
    ]
    print(json.dumps(summary(rounds)))


if __name__ == "__main__":
    main()
