"""SIGTERM behind a load balancer: Recommend callers that stop sending as soon as gRPC health
leaves SERVING (as a balancer does), against a server stopping at once (``drain_seconds = 0``,
the old behaviour) and one draining first. Counts the calls that failed, per run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infogap.client import Client, InfoGapError

from . import REPO_ROOT, workload
from .servers import HOST, _wait_until_serving, free_port, infogap_server
from .serving import load_movielens

CALLERS = 8
HEALTH_POLL_SECONDS = 0.05
SECONDS_BEFORE_SIGTERM = 3.0
DRAIN_SECONDS = 2.0


def _run(data_dir: Path, log_dir: Path, drain: float, users: list[str]) -> dict[str, Any]:
    port = free_port()
    address = f"{HOST}:{port}"
    log_path = log_dir / f"drain-{drain}.log"
    env = {**os.environ, "INFOGAP_SERVER__DRAIN_SECONDS": str(drain)}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "infogap.server", "serve", "--data-dir", str(data_dir)]
            + ["--host", HOST, "--port", str(port)],
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        _wait_until_serving(process, address, log_path)
        moved_away = threading.Event()
        outcomes: list[bool] = []
        lock = threading.Lock()

        def balancer() -> None:
            with Client(address, timeout=5) as checker:
                while True:
                    try:
                        if checker.health() != "SERVING":
                            break
                    except InfoGapError:
                        break
                    time.sleep(HEALTH_POLL_SECONDS)
            moved_away.set()

        def caller(index: int) -> None:
            with Client(address, timeout=10) as client:
                n = index
                while not moved_away.is_set():
                    try:
                        client.recommend(users[n % len(users)], count=10)
                        ok = True
                    except InfoGapError:
                        ok = False
                    with lock:
                        outcomes.append(ok)
                    n += CALLERS

        threads = [threading.Thread(target=balancer)] + [
            threading.Thread(target=caller, args=(i,)) for i in range(CALLERS)
        ]
        for thread in threads:
            thread.start()
        time.sleep(SECONDS_BEFORE_SIGTERM)
        process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(timeout=60)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    return {"calls": len(outcomes), "failed": outcomes.count(False)}


def benchmark_drain(
    dataset: Path, work_dir: Path, rounds: int, progress: Callable[[str], None]
) -> dict[str, Any]:
    data_dir = work_dir / "drain-data"
    with infogap_server(data_dir, work_dir) as address:
        progress("drain: loading MovieLens 100K and training")
        load_movielens(address, dataset)
        with Client(address) as client:
            client.train()
    users = workload.user_ids(dataset)
    runs: dict[str, list[dict[str, Any]]] = {"stop at once": [], "drain": []}
    for round_index in range(rounds):
        progress(f"drain: round {round_index + 1} of {rounds}")
        for name, drain in (("stop at once", 0.0), ("drain", DRAIN_SECONDS)):
            runs[name].append(_run(data_dir, work_dir, drain, users))
    return runs


def report_lines(runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    lines = [
        f"SIGTERM under load ({CALLERS} Recommend callers leaving when health leaves SERVING, "
        f"polled every {HEALTH_POLL_SECONDS * 1000:.0f} ms)"
    ]
    for name, label in (
        ("stop at once", "drain_seconds = 0"),
        ("drain", f"drain_seconds = {DRAIN_SECONDS:g}"),
    ):
        per_run = ", ".join(f"{r['failed']} of {r['calls']}" for r in runs[name])
        lines.append(f"  {label}: failed calls per run {per_run}")
    return lines
