"""The TypeScript SDK (client_sdk_ts/) against real servers: it is built with tsc, and its
Node test suite runs against a server without keys and one with keys, both on their HTTP
port (the Connect protocol). Its retry and deadline rules are checked against the Python SDK's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from infogap.client._channel import IDEMPOTENT_METHODS
from infogap.client._defaults import BULK_TIMEOUT, EVALUATE_TIMEOUT, TRAIN_TIMEOUT
from infogap.server.transport.auth import hash_api_key

from ..conftest import StartServer

TS_SDK = Path(__file__).resolve().parents[2] / "client_sdk_ts"
ADMIN_KEY = "ts-sdk-admin-key-0123456789"
READ_KEY = "ts-sdk-read-key-0123456789"

pytestmark = [
    pytest.mark.slow,  # tsc and the Node suite: about 20 s on 2 cores
    pytest.mark.skipif(
        shutil.which("node") is None or shutil.which("npm") is None,
        reason="Node.js and npm are needed to build and test the TypeScript SDK",
    ),
]


def _run(command: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> str:
    """Runs a command in client_sdk_ts/; fails the test with its output if it fails."""
    result = subprocess.run(
        command,
        cwd=TS_SDK,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command)} exited {result.returncode}:\n{output}"
    return output


@pytest.fixture(scope="module")
def built_sdk() -> Path:
    """client_sdk_ts compiled to dist/ (its packages installed first when missing)."""
    if not (TS_SDK / "node_modules" / ".bin" / "tsc").exists():
        _run(["npm", "install", "--no-audit", "--no-fund", "--no-package-lock"])
    _run([str(TS_SDK / "node_modules" / ".bin" / "tsc"), "-p", "tsconfig.json"])
    return TS_SDK / "dist"


def test_the_node_test_suite_passes_against_real_servers(
    built_sdk, start_server: StartServer, tmp_path
):
    server = start_server(http={"port": 0})
    keys = [
        {"name": "admin", "sha256": hash_api_key(ADMIN_KEY), "scopes": ["admin", "read", "ingest"]},
        {"name": "reader", "sha256": hash_api_key(READ_KEY), "scopes": ["read"]},
    ]
    keyed = start_server(data_dir=tmp_path / "keyed", http={"port": 0}, auth={"keys": keys})
    output = _run(
        ["npm", "test", "--silent"],
        env={
            "INFOGAP_HTTP_URL": server.http_url,
            "INFOGAP_HTTP_URL_KEYS": keyed.http_url,
            "INFOGAP_ADMIN_KEY_KEYS": ADMIN_KEY,
            "INFOGAP_READ_KEY_KEYS": READ_KEY,
        },
    )
    # Every test ran: none was skipped for want of a server.
    assert "# fail 0" in output and "# skipped 0" in output, output
    assert "# pass 0" not in output, output


def _node_value(expression: str) -> object:
    """A value exported by the compiled SDK, as JSON."""
    script = (
        f"const sdk = await import('./dist/src/index.js');"
        f"console.log(JSON.stringify({expression}));"
    )
    return json.loads(_run(["node", "--input-type=module", "-e", script]))


def test_it_retries_exactly_the_methods_the_python_sdk_retries(built_sdk):
    python = {f"{service}/{method or '*'}" for service, method in IDEMPOTENT_METHODS}
    assert set(_node_value("[...sdk.IDEMPOTENT_METHODS]")) == python


def test_its_long_deadlines_are_the_python_sdks(built_sdk):
    assert _node_value("sdk.LONG_CALL_TIMEOUTS_MS") == {
        "infogap.v1.AdminService/Train": TRAIN_TIMEOUT * 1000,
        "infogap.v1.AdminService/EvaluateModels": EVALUATE_TIMEOUT * 1000,
        "infogap.v1.FeedbackService/StreamEvents": BULK_TIMEOUT * 1000,
    }
