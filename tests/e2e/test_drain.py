"""SIGTERM behind a load balancer: ``infogap serve`` reports NOT_SERVING for
``server.drain_seconds`` while it still answers, then stops. Callers that stop sending as soon
as health leaves SERVING (as a balancer does) see no failed call."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from infogap.client import Client, InfoGapError

from ..conftest import load
from ..http_calls import call, rpc
from .test_feedback import free_port, wait_until_serving

CONFIG = """
[lightfm]
epochs = 5
no_components = 8
num_threads = 1

[plugins]
disabled = ["item_knn", "als", "ease", "spark_als"]

[server]
drain_seconds = 1.5
grace_seconds = 5
"""


def test_sigterm_drains_before_stopping_and_no_call_fails(tmp_path: Path, tastes):
    port, http_port = free_port(), free_port()
    config = tmp_path / "infogap.toml"
    config.write_text(CONFIG)
    process = subprocess.Popen(
        [sys.executable, "-m", "infogap.server", "serve", "--config", str(config)]
        + ["--data-dir", str(tmp_path / "data"), "--port", str(port)]
        + ["--http-port", str(http_port)],
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    target, http_url = f"127.0.0.1:{port}", f"http://127.0.0.1:{http_port}"
    try:
        with Client(target, timeout=30) as client:
            wait_until_serving(client)
            load(client, tastes)
            client.train()
        outcomes: list[str] = []
        lock = threading.Lock()
        balancer_moved_away = threading.Event()

        def watch_health() -> None:  # the load balancer's health check
            with Client(target, timeout=5) as checker:
                while checker.health() == "SERVING":
                    time.sleep(0.01)
            balancer_moved_away.set()

        def recommend(caller: int) -> None:
            with Client(target, timeout=10) as caller_client:
                while not balancer_moved_away.is_set():
                    try:
                        caller_client.recommend(f"red-user-{caller}", count=5)
                        outcome = "ok"
                    except InfoGapError as error:
                        outcome = type(error).__name__
                    with lock:
                        outcomes.append(outcome)

        threads = [threading.Thread(target=watch_health)] + [
            threading.Thread(target=recommend, args=(caller,)) for caller in range(4)
        ]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(timeout=30)
        # Draining: still answering on both transports, and saying so on /readyz.
        assert call(f"{http_url}/readyz") == (503, {"status": "NOT_SERVING"})
        assert rpc(http_url, "AdminService/ListPlugins", {})[0] == 200
        with Client(target, timeout=5) as late:
            assert late.recommend("red-user-0", count=3).items
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert len(outcomes) > 50
    assert [outcome for outcome in outcomes if outcome != "ok"] == []
