"""Server subprocesses: start on a free loopback port, wait until healthy, always stop.

Each server runs in a process of its own, so that its threads never share a GIL with the load
generator or with the other server. Its output goes to a log file, shown if it fails to start.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from infogap.client import Client, InfoGapError

from . import REPO_ROOT

HOST = "127.0.0.1"
# Both servers get the same number of gRPC worker threads (InfoGap's default).
GRPC_WORKERS = 8
STARTUP_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _wait_until_serving(process: subprocess.Popen[bytes], address: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    last_answer = "no answer"
    with Client(address, timeout=2.0) as client:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                last_answer = client.health()
                if last_answer == "SERVING":
                    return
            except InfoGapError as error:  # most likely not listening yet
                last_answer = str(error)
            time.sleep(0.2)
    tail = log_path.read_text(errors="replace")[-4000:]
    raise RuntimeError(
        f"server {address} did not become healthy (exit code {process.poll()}, last health "
        f"check: {last_answer}); its log ends with:\n{tail}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # InfoGap stops gracefully on SIGTERM (commits queued events)
    try:
        process.wait(STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def server_process(
    name: str, command: Sequence[str], log_dir: Path, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Runs ``command`` (which must listen on the port it is given through ``{port}``) and
    yields its address once its health check says SERVING."""
    port = free_port()
    address = f"{HOST}:{port}"
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [part.format(port=port) for part in command],
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    try:
        _wait_until_serving(process, address, log_path)
        yield address
    finally:
        _stop(process)


def infogap_server(
    data_dir: Path, log_dir: Path, env: dict[str, str] | None = None
) -> contextlib.AbstractContextManager[str]:
    """The real InfoGap server (its own CLI) on ``data_dir``; ``env`` adds settings
    (``INFOGAP_...`` variables)."""
    command = [
        sys.executable,
        "-m",
        "infogap.server",
        "serve",
        "--data-dir",
        str(data_dir),
        "--host",
        HOST,
        "--port",
        "{port}",
    ]
    return server_process(
        f"infogap-{data_dir.name}",
        command,
        log_dir,
        env={"INFOGAP_MAX_WORKERS": str(GRPC_WORKERS), **(env or {})},
    )


def bare_server(model_dir: Path, log_dir: Path) -> contextlib.AbstractContextManager[str]:
    """The ceiling: ``bench.bare_server`` scoring with the arrays of ``model_dir``."""
    command = [
        sys.executable,
        "-m",
        "bench.bare_server",
        "--model-dir",
        str(model_dir),
        "--host",
        HOST,
        "--port",
        "{port}",
        "--workers",
        str(GRPC_WORKERS),
    ]
    return server_process("bare", command, log_dir)
